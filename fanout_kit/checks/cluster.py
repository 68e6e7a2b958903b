"""Checks for lesson 11, beyond one machine: a replicated stream and consumer on a cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from ..topology import consumers_of, enum_value, reset_streams
from ..waiting import settle
from . import (
    CheckResult,
    correct,
    exercise,
    learner_stream,
    refusal,
    run_setup,
    where,
    wrong,
)

__all__ = ["DURABLE", "STREAM", "orders_r3"]

STREAM = "ORDERS_R3"
SUBJECT = "orders.>"
DURABLE = "order-processor"
REPLICAS = 3
NOT_CLUSTERED = 10074  # "replicas > 1 not supported in non-clustered mode"
SOLUTION = (
    f'js.add_stream(name="{STREAM}", subjects=["{SUBJECT}"], num_replicas=3) and '
    f'js.add_consumer("{STREAM}", ConsumerConfig(durable_name="{DURABLE}"))'
)


REPLICAS_CONCEPT = (
    "num_replicas is how many nodes hold the stream; a quorum (a majority) of them must agree "
    "for a write. R3: quorum 2, one node may fail. Replicated state should be in files."
)
STREAM_FIX = f'`num_replicas=3` in `js.add_stream(name="{STREAM}", subjects=["{SUBJECT}"], ...)`'


def _refused(exc: APIError) -> CheckResult:
    if exc.err_code == NOT_CLUSTERED:
        return wrong(
            "The server says: replicas > 1 not supported in non-clustered mode"
            f"{where(exc)}. This `js` talks to a single server, not to the cluster.",
            "Replicas live on the nodes of a cluster: the stream must be created through a "
            "connection to the cluster.",
            "Pass the `js` of the connection to all three nodes (`cluster_nc.jetstream()` in "
            "the lesson).",
        )
    return refusal(exc, "", fix=f"`await {SOLUTION}`")


def _stream_hint(config: Any) -> CheckResult | None:
    subjects = list(config.subjects or [])
    if not any(s in ("orders.>", ">") for s in subjects):
        return wrong(
            f"{STREAM} listens on {subjects}, so it does not store every order event.",
            "'>' matches every subject below a prefix.",
            f'`subjects=["{SUBJECT}"]`',
        )
    replicas = config.num_replicas or 1
    if replicas == 1:
        return wrong(
            f"{STREAM} has num_replicas=1 (the default): it lives on one node only. When that "
            "node stops, nobody can publish to the stream or read from it, and if its disk is "
            "lost the messages are gone.",
            REPLICAS_CONCEPT,
            STREAM_FIX,
        )
    if replicas == 2:
        return wrong(
            f"{STREAM} has num_replicas=2. A quorum of 2 is 2, so losing either node stops "
            "publishing: R2 costs twice the storage of R1 and survives no node failure.",
            REPLICAS_CONCEPT + " Use an odd number.",
            STREAM_FIX,
        )
    if replicas != REPLICAS:
        return wrong(
            f"{STREAM} has num_replicas={replicas}; this exercise wants 3.",
            REPLICAS_CONCEPT,
            STREAM_FIX,
        )
    if enum_value(config.storage) == "memory":
        return wrong(
            f"{STREAM} uses memory storage. A replica that restarts comes back empty and must "
            "copy everything from the others, and if the whole cluster restarts (a power cut, "
            "an upgrade gone wrong) every order is lost.",
            REPLICAS_CONCEPT,
            "`storage=StorageType.FILE` (the default: leave it out).",
        )
    return None


def _consumer_hint(config: Any, stream_replicas: int) -> CheckResult | None:
    if not config.durable_name:
        return wrong(
            f"{DURABLE!r} is ephemeral (it has a name but no durable_name): the server deletes "
            f"it {config.inactive_threshold or 5:g} s after its last client goes away, "
            "replicas or not, and its position with it.",
            "A consumer survives its clients only with a durable name.",
            f"`durable_name={DURABLE!r}`",
        )
    replicas = config.num_replicas or stream_replicas  # 0 means "as many as the stream"
    if replicas < stream_replicas:
        return wrong(
            f"{DURABLE!r} has num_replicas={replicas} on a stream with {stream_replicas}: its "
            "cursor (ack floor, pending acks) lives on fewer nodes than the messages. Lose the "
            "node holding it and the stream is fine but order-processor cannot fetch.",
            "A consumer's num_replicas of 0 means as many as its stream.",
            "Leave `num_replicas` out (0 = the stream's) or set it to 3.",
        )
    if config.mem_storage:
        return wrong(
            f"{DURABLE!r} keeps its state in memory (mem_storage=True): a full cluster restart "
            "forgets where order-processor was, and it starts over.",
            REPLICAS_CONCEPT,
            "Leave `mem_storage` out.",
        )
    return None


async def _peers(read: Callable[[], Any], want: int, timeout: float = 10.0) -> list[str]:
    """Names of the nodes holding a stream or consumer (leader + replicas), waiting up to
    ``timeout`` for ``want`` of them to report."""

    async def peers() -> list[str]:
        cluster = (await read()).cluster
        if cluster is None or not cluster.leader:
            return []
        return sorted([cluster.leader] + [p.name for p in cluster.replicas or []])

    return await settle(peers, lambda names: len(names) >= want, timeout)


@exercise(
    "replace `raise NotImplementedError` with `await js.add_stream(...)` (3 replicas) and "
    f"`await js.add_consumer(...)` creating the durable {DURABLE!r} on {STREAM}."
)
async def orders_r3(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: ``learner(js)`` creates the stream ``ORDERS_R3`` on ``orders.>`` with three
    replicas in file storage, and the durable ``order-processor`` on it, replicated as widely
    as the stream.

    ``js`` must come from a connection to the 3-node cluster. The check deletes an earlier
    ``ORDERS_R3``, calls the learner, reads the real stream and consumer config and cluster
    info, then publishes one order and fetches it through the durable.
    """
    await reset_streams(js, STREAM)
    hint = await run_setup(
        learner, js, refused=_refused, failed="Creating the stream or consumer failed"
    )
    if hint is not None:
        return hint
    info = await learner_stream(js, STREAM, f"`await {SOLUTION}`")
    hint = _stream_hint(info.config)
    if hint is not None:
        return hint
    try:
        consumer = await js.consumer_info(STREAM, DURABLE)
    except NotFoundError:
        names = sorted(await consumers_of(js, STREAM))
        return wrong(
            f"{STREAM} has no consumer named {DURABLE!r} (it has {names or 'none'}).",
            "`js.add_consumer(stream, ConsumerConfig(...))` creates a consumer; names are "
            "case-sensitive.",
            f"`js.add_consumer({STREAM!r}, ConsumerConfig(durable_name={DURABLE!r}))`",
        )
    hint = _consumer_hint(consumer.config, info.config.num_replicas or 1)
    if hint is not None:
        return hint

    stream_peers = await _peers(lambda: js.stream_info(STREAM), REPLICAS)
    consumer_peers = await _peers(lambda: js.consumer_info(STREAM, DURABLE), REPLICAS)
    if len(stream_peers) < REPLICAS or len(consumer_peers) < REPLICAS:
        return wrong(
            f"The cluster reports {STREAM} on {stream_peers} and {DURABLE!r} on "
            f"{consumer_peers}: fewer than 3 nodes. Are all three nodes running?"
        )

    ack = await js.publish(
        "orders.check", b'{"type": "check"}', headers={"Nats-Msg-Id": "orders-r3-check"}
    )
    sub = await js.pull_subscribe_bind(durable=DURABLE, stream=STREAM)
    got: list[int] = []
    try:
        try:
            for msg in await sub.fetch(100, timeout=2):
                got.append(msg.metadata.sequence.stream)
                await msg.ack_sync()
        except TimeoutError:  # nats.errors.TimeoutError too
            pass
    finally:
        await sub.unsubscribe()
    if ack.seq not in got:
        return wrong(
            f"{DURABLE!r} did not deliver the order the check published (seq {ack.seq}); "
            f"it delivered {got}.",
            "Where a consumer starts and what it receives are its deliver policy and filter.",
            "Leave its deliver policy and filter at their defaults.",
        )
    return correct(
        f"{STREAM} keeps every order on {', '.join(stream_peers)} in files, and "
        f"{DURABLE!r} is durable with its cursor on {', '.join(consumer_peers)}: any one "
        "node can fail and both carry on. The check's order went through it."
    )
