"""What the JetStream API's answers mean for the board's model (pure: documents in, model out).

The feed (:mod:`fanout_kit.feed`) makes the requests; these functions fold the answers into a
:class:`~fanout_kit.observe.StreamModel`:

* stream info (with ``deleted_details``): first/last sequence, messages stored, the deleted
  sequences inside the stream, the cluster's leader and replicas (or that it has none);
* consumer info: configuration (filters, ack and deliver policy, start, ``created``, a pause
  on the server: :mod:`fanout_kit.pause`) and numbers, taken exactly when the stream is
  quiet, else only forward (never ahead);
* overview (overload mode): consumer info with the per-message detail it cannot support
  dropped.

Facts verified on nats-server 2.15.1 that the start rules rely on: a consumer that has delivered
nothing yet (``delivered.consumer_seq == 0``) reports ``delivered.stream_seq`` = its start - 1
for every deliver policy (``new``: the stream's last sequence at creation; ``by_start_sequence``:
``opt_start_seq - 1``; ``by_start_time``: the first message at or after the time, minus 1;
``last``: last - 1); ``created`` changes when a consumer is deleted and made again. A durable
moved with ``reset_consumer`` (2.14+) reports the same at its new position, so the rule is used
only where the config does not say the start (deliver policies other than ``all`` and
``by_start_sequence``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import pause
from .acks import parse_time_ns
from .observe import ConsumerModel, StreamModel

__all__ = [
    "apply_cluster",
    "apply_consumer_info",
    "apply_overview",
    "apply_stream_info",
    "mark_leaderless",
]


def _time(text: object) -> int:
    try:
        return parse_time_ns(str(text)) if text else 0
    except ValueError:
        return 0


def apply_stream_info(m: StreamModel, info: Mapping[str, Any], *, exact: bool = True) -> None:
    """Stream info as the JetStream API or ``/jsz`` reports it (``config`` and ``state``).

    Stored/first/last are head figures and always current; ``exact`` also lets the last
    sequence move back to the server's (a quiet stream: nothing the wiretap saw is newer).
    """
    config = info.get("config") or {}
    state = info.get("state") or {}
    m.retention = str(config.get("retention", m.retention))
    m.subject_filters = tuple(config.get("subjects") or ())
    m.max_msgs = int(config.get("max_msgs", -1) or -1)
    last = int(state.get("last_seq", 0))
    first = int(state.get("first_seq", 1)) or 1
    m.num_deleted = int(state.get("num_deleted", 0))
    if exact or last >= m.last_seq:
        m.messages = int(state.get("messages", 0))
    if exact:
        m.last_seq, m.first_seq = last, first
        for s in [s for s in m.subjects if s < first]:
            del m.subjects[s]
    else:
        m.grow(last)
        m.first_seq = max(m.first_seq, first)
    if "deleted" in state:
        listed = {int(s) for s in state.get("deleted") or ()}
        m.deleted = {s for s in m.deleted if s > last} | listed if exact else m.deleted | listed
    apply_cluster(m, info)
    m.version += 1


def apply_cluster(m: StreamModel, info: Mapping[str, Any]) -> bool:
    """The stream's leader and its other replicas (name, current, lag, offline) from stream
    info's ``cluster``; ``None`` for a stream with one replica. Returns whether it changed.

    Verified on nats-server 2.15.1: ``replicas`` lists the followers only (the leader is
    ``leader``); ``lag`` is left out when 0; a killed follower stays listed, not current, its
    lag growing; while a stream elects a leader its stream info gets no answer at all (the
    consumer list still does), see :func:`mark_leaderless`.
    """
    cluster = info.get("cluster") or {}
    new = (
        {
            "leader": cluster.get("leader") or None,
            "replicas": [
                {
                    "name": str(r.get("name") or r.get("peer") or "?"),
                    "current": bool(r.get("current")),
                    "lag": int(r.get("lag", 0) or 0),
                    "offline": bool(r.get("offline")),
                }
                for r in cluster["replicas"]
            ],
        }
        if cluster.get("replicas")
        else None
    )
    if new == m.cluster:
        return False
    m.cluster = new
    m.version += 1
    return True


def mark_leaderless(m: StreamModel) -> bool:
    """A clustered stream's info got no answer: it has no leader now (an election, or too
    few replicas running), and publishes to it fail. Returns whether that is news."""
    if m.cluster is None or m.cluster["leader"] is None:
        return False
    m.cluster = {**m.cluster, "leader": None}
    m.version += 1
    return True


def _apply_config(m: StreamModel, info: Mapping[str, Any]) -> ConsumerModel:
    """The consumer named in ``info`` with its configuration taken in; a consumer whose
    ``created`` changed (deleted and made again) starts afresh, marked "recreated"."""
    config = info.get("config") or {}
    name = str(info.get("name") or config.get("durable_name") or config.get("name"))
    created = str(info.get("created") or "")
    old = m.consumers.get(name) or m.gone.get(name)
    if old is not None and old.created and created and old.created != created:
        m.consumers.pop(name, None)
        m.gone.pop(name, None)
        m.consumers_changed()
        c = m.consumer(name)
        c.note, c.note_at = "recreated", m.now
    else:
        if name in m.gone:  # listed again with the same created: not gone after all
            c = m.consumers[name] = m.gone.pop(name)
            c.note, c.frozen = None, None
            m.consumers_changed()
        c = m.consumer(name)
    filters = config.get("filter_subjects") or (
        [config["filter_subject"]] if config.get("filter_subject") else []
    )
    if tuple(filters) != c.filters or not c.config_known:
        c.filters = tuple(filters)
        m.consumers_changed()
        c.nonmatch_above = sum(
            1 for s, sub in m.subjects.items() if s > c.cursor and not c.matches(sub)
        )
    c.config_known = True
    c.created, c.created_ns = created, _time(created)
    c.ack_policy = str(config.get("ack_policy", "explicit"))
    c.deliver_policy = str(config.get("deliver_policy", "all"))
    c.opt_start_seq = int(config.get("opt_start_seq", 0) or 0)
    c.opt_start_time_ns = _time(config.get("opt_start_time"))
    c.max_ack_pending = int(config.get("max_ack_pending", 0) or 0)
    c.max_deliver = int(config.get("max_deliver", -1) or -1)
    c.deliver_subject = config.get("deliver_subject") or None
    c.durable = bool(config.get("durable_name"))
    pause.from_info(c, info)
    delivered = info.get("delivered") or {}
    # Nothing delivered yet tells the start of a time- or "new"-based consumer exactly. A
    # deliver-all or start-sequence one has its start in its config, and a durable moved back
    # with reset_consumer reports the same "nothing delivered" at its new position.
    untold = c.deliver_policy not in ("all", "by_start_sequence") and c.start is None
    if untold and int(delivered.get("consumer_seq", 0)) == 0 and "delivered" in info:
        c.start = int(delivered.get("stream_seq", 0)) + 1  # nothing delivered yet: exact
    return c


def _cursors(info: Mapping[str, Any]) -> tuple[int, int, int, int]:
    delivered = info.get("delivered") or {}
    floor = info.get("ack_floor") or {}
    return (
        int(delivered.get("stream_seq", 0)),
        int(delivered.get("consumer_seq", 0)),
        int(floor.get("stream_seq", 0)),
        int(floor.get("consumer_seq", 0)),
    )


def _moved_back(c: ConsumerModel, seq: int) -> None:
    """Last Delivered went back to ``seq`` (``js.reset_consumer``): the server forgot what it
    delivered after that, and the delivery counts with it, so the lane forgets them too (a
    delivery count drawn over a message the server calls not yet delivered would be false)."""
    for per_seq in (c.pending, c.rdc, c.done, c.acked_dc, c.early, c.trace):
        for s in [s for s in per_seq if s > seq]:
            del per_seq[s]
    c.skipped = [(lo, min(hi, seq)) for lo, hi in c.skipped if lo <= seq]


def apply_consumer_info(m: StreamModel, info: Mapping[str, Any], *, exact: bool = True) -> None:
    """Consumer info (API or ``/jsz`` shape). ``exact``: the stream is quiet, so take the
    server's numbers as they are; otherwise only merge what can only move forward."""
    c = _apply_config(m, info)
    d_s, d_c, f_s, f_c = _cursors(info)
    c.num_waiting = int(info.get("num_waiting", 0))
    if exact:
        if d_s < c.cursor:
            _moved_back(c, d_s)
        m.advance_cursor(c, d_s, skipped=False)
        c.cursor, c.cseq = d_s, d_c
        c.floor_s, c.floor_c = f_s, f_c
        m.drop_below_floor(c)
        for s in [s for s in c.pending if s > c.cursor]:
            del c.pending[s]
        server_nap = int(info.get("num_ack_pending", 0))
        if len(c.pending) > server_nap:
            c.pending.clear()
        c.unknown_pending = server_nap - len(c.pending)
        c.unknown_below = c.cursor if c.unknown_pending else 0
        c.nrd_adjust = int(info.get("num_redelivered", 0)) - len(c.rdc)
        c.nonmatch_above = sum(
            1 for s, sub in m.subjects.items() if s > c.cursor and not c.matches(sub)
        )
        c.np_adjust = c.np_upto = 0
        c.np_adjust = int(info.get("num_pending", 0)) - m.num_pending(c)
        c.np_upto = m.last_seq
    else:
        if d_s > c.cursor:
            m.advance_cursor(c, d_s, skipped=False)
            c.cseq = max(c.cseq, d_c)
        if f_s > c.floor_s:
            c.floor_s, c.floor_c = f_s, max(c.floor_c, f_c)
            m.drop_below_floor(c)
    m.version += 1


def apply_overview(m: StreamModel, info: Mapping[str, Any]) -> None:
    """Consumer info while nobody follows the traffic message by message (overload mode).

    Above a few thousand events a second, watching every delivery and ack costs the learner's
    own consumers too much of the process (the board shares their event loop), so the board
    reads consumer info a few times a second instead. The only per-message truth left is what
    consumer info implies: acked up to the Ack Floor, not yet delivered after Last Delivered,
    and in between in flight or acked (the cell rules decide what can be told). So:

    * Last Delivered and Ack Floor only move forward (never ahead of the server);
    * per-message detail above the floor (in flight, nak'd) is dropped: it went stale when the
      board stopped listening; the delivery-count marks stay (they are history);
    * Outstanding Acks, Redelivered and Unprocessed are the server's, as of the answer.
    """
    c = _apply_config(m, info)
    d_s, d_c, f_s, f_c = _cursors(info)
    c.num_waiting = int(info.get("num_waiting", 0))
    if d_s > c.cursor:
        m.advance_cursor(c, d_s, skipped=False)
    c.cseq = max(c.cseq, d_c)
    if f_s > c.floor_s:
        c.floor_s, c.floor_c = f_s, max(c.floor_c, f_c)
    c.pending.clear()
    c.rdc.clear()
    for s in [s for s in c.done if s > c.floor_s]:
        del c.done[s]
    c.unknown_pending = max(0, int(info.get("num_ack_pending", 0)))
    c.unknown_below = c.cursor if c.unknown_pending else 0
    c.nrd_adjust = int(info.get("num_redelivered", 0))
    if c.cursor == d_s:
        c.np_adjust = c.np_upto = 0
        c.np_adjust = int(info.get("num_pending", 0)) - m.num_pending(c)
        c.np_upto = m.last_seq
    m.version += 1
