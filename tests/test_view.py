"""The view and the cell rules, without a server: model in, frame and cells out (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fanout_kit import BadArgument, palette, reconcile, view
from fanout_kit.acks import parse_time_ns
from fanout_kit.cells import FOCUS_CELLS, Truth, window
from fanout_kit.demo import fit_demo_events
from fanout_kit.observe import NOTE_SECONDS, AckKind, AckSubject, MsgState, StreamModel
from fanout_kit.report import COLUMNS, ConsumerNumbers

T0 = 1_700_000_000_000_000_000  # ns: message i is stored at T0 + i seconds


def ack(consumer: str, dc: int, sseq: int, cseq: int, pending: int = 0) -> AckSubject:
    return AckSubject("EVENTS", consumer, dc, sseq, cseq, T0 + sseq * 10**9, pending)


def iso(ns: int) -> str:
    seconds, frac = divmod(ns, 10**9)
    import datetime as dt

    when = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{when}.{frac:09d}Z"


def info(name: str, **config: Any) -> dict[str, Any]:
    delivered = config.pop("delivered", (0, 0))
    floor = config.pop("floor", delivered)
    created = config.pop("created", iso(T0))
    num_pending = config.pop("num_pending", 0)
    return {
        "name": name,
        "created": created,
        "config": {"durable_name": name, "ack_policy": "explicit", **config},
        "delivered": {"stream_seq": delivered[0], "consumer_seq": delivered[1]},
        "ack_floor": {"stream_seq": floor[0], "consumer_seq": floor[1]},
        "num_pending": num_pending,
        "num_ack_pending": 0,
        "num_redelivered": 0,
    }


def stream(n: int, subjects: list[str] | None = None, **state: Any) -> StreamModel:
    """A model of a stream with ``n`` messages whose subjects and times it knows."""
    m = StreamModel("EVENTS")
    reconcile.apply_stream_info(
        m,
        {
            "config": {"subjects": ["events.>"], "retention": state.pop("retention", "limits")},
            "state": {"first_seq": state.pop("first", 1), "last_seq": n, "messages": n, **state},
        },
    )
    for s in range(1, n + 1):
        subject = subjects[(s - 1) % len(subjects)] if subjects else "events.x"
        m.apply_message(s, subject, T0 + s * 10**9)
    return m


def lane(m: StreamModel, name: str, capacity: int = 400) -> str:
    lo, hi = window(m, capacity)
    return "".join(view.CODES[s] for s in Truth(m, lo, hi).lane(m.consumers[name]).states)


def test_palette_words_are_the_models_states() -> None:
    """One vocabulary: every palette word is a MsgState value and the other way round."""
    assert {s.word for s in palette.STATES} == {s.value for s in MsgState}
    assert len(set(view.CODES.values())) == len(MsgState)


def test_parse_time_ns_matches_the_ack_subjects_unit() -> None:
    assert parse_time_ns("2026-11-30T11:22:49.890515052Z") % 10**9 == 890515052
    assert parse_time_ns("1970-01-01T00:00:01Z") == 10**9
    assert parse_time_ns("1970-01-01T01:00:01.5+01:00") == 10**9 + 5 * 10**8
    with pytest.raises(ValueError):
        parse_time_ns("yesterday")


def test_before_start_from_sequence_from_time_and_from_a_fresh_consumer() -> None:
    m = stream(10)
    reconcile.apply_consumer_info(
        m, info("seq", deliver_policy="by_start_sequence", opt_start_seq=6, delivered=(7, 2))
    )
    # Made when message 6 was the newest, seen by the board only after it delivered.
    created = iso(T0 + 6 * 10**9 + 5)
    reconcile.apply_consumer_info(
        m, info("new", deliver_policy="new", delivered=(8, 2), created=created)
    )
    reconcile.apply_consumer_info(
        m,
        info(
            "time",
            deliver_policy="by_start_time",
            opt_start_time=iso(T0 + 4 * 10**9),
            delivered=(9, 6),
        ),
    )
    # Seen fresh (nothing delivered): its start is exactly Last Delivered + 1.
    reconcile.apply_consumer_info(m, info("fresh", deliver_policy="new", delivered=(10, 0)))
    assert lane(m, "seq") == "BBBBBAAUUU"
    assert lane(m, "new") == "BBBBBBAAUU"
    assert lane(m, "time") == "BBBAAAAAAU"
    assert lane(m, "fresh") == "BBBBBBBBBB"
    assert m.consumers["fresh"].start == 11


def test_last_per_subject_is_honestly_unknown() -> None:
    m = stream(6)
    created = iso(T0 + 6 * 10**9 + 1)
    reconcile.apply_consumer_info(
        m, info("lps", deliver_policy="last_per_subject", delivered=(6, 1), created=created)
    )
    assert set(lane(m, "lps")) == {"?"}


def test_ack_none_is_delivered_never_acked() -> None:
    m = stream(5)
    reconcile.apply_consumer_info(m, info("fire", ack_policy="none", delivered=(3, 3)))
    assert lane(m, "fire") == "DDDUU"


def test_filter_and_removed_come_first_in_every_row() -> None:
    m = stream(6, ["events.order.created", "events.user.updated"], deleted=[3], num_deleted=1)
    reconcile.apply_consumer_info(
        m, info("orders", filter_subject="events.order.>", delivered=(5, 2))
    )
    reconcile.apply_consumer_info(m, info("all", delivered=(6, 5)))
    assert lane(m, "orders") == "AFGFAF"
    assert lane(m, "all") == "AAGAAA"
    lo, hi = window(m, 60)
    assert "".join(view.CODES[s] for s in Truth(m, lo, hi).stream_lane()) == "ssGsss"


def test_a_nak_redelivered_and_acked_within_one_frame_leaves_a_mark() -> None:
    m = stream(3)
    reconcile.apply_consumer_info(m, info("c"))
    m.on_delivery("events.x", ack("c", 1, 1, 1, 2))
    m.on_ack(ack("c", 1, 1, 1), AckKind.NAK)
    m.on_delivery("events.x", ack("c", 2, 1, 2, 2))
    m.on_ack(ack("c", 2, 1, 2), AckKind.ACK)
    frame = view.build_frame(m, view.Status(), capacity=60)
    (c,) = frame["lanes"]
    assert c["cells"][0] == "A" and c["marks"] == [[1, 2]], "acked, with its delivery count"


def test_deleted_lane_is_kept_then_expires_and_recreated_is_marked() -> None:
    m = stream(4)
    reconcile.apply_consumer_info(m, info("c", delivered=(2, 2), num_pending=2))
    m.now = 100.0
    m.on_consumer_deleted("c")
    frame = view.build_frame(m, view.Status(), capacity=60)
    assert [(x["name"], x["note"]) for x in frame["lanes"]] == [("c", "deleted")]
    assert frame["lanes"][0]["numbers"]["Last Delivered"] == 2, "numbers frozen"
    assert m.snapshot() == {}, "snapshot is the server's consumers only"
    # Made again (a new `created`): a fresh lane marked "recreated", its past before its start.
    m.now = 101.0
    again = iso(T0 + 4 * 10**9 + 1)
    reconcile.apply_consumer_info(
        m, info("c", deliver_policy="new", delivered=(4, 0), created=again)
    )
    (lane_c,) = view.build_frame(m, view.Status(), capacity=60)["lanes"]
    assert lane_c["note"] == "recreated" and lane_c["cells"] == "BBBB"
    m.expire_notes(101.0 + NOTE_SECONDS)
    assert m.consumers["c"].note is None
    m.on_consumer_deleted("c")
    m.expire_notes(m.now + NOTE_SECONDS)
    assert not m.gone


def test_frame_is_plain_json_with_one_lag_scale_focus_and_hidden_lanes() -> None:
    m = stream(500)
    for i in range(5):
        name = f"c{i}"
        reconcile.apply_consumer_info(m, info(name, delivered=(100 * i, 100 * i)))
        m.consumers[name].lag.extend([10 * i, 400 - 100 * i])
    frame = view.build_frame(
        m, view.Status(banners=("x",)), capacity=50, max_lanes=3, workers={"c0": "paused"}
    )
    assert json.loads(json.dumps(frame)) == frame
    assert frame["lo"] == 451 and frame["hi"] == 500 and len(frame["stream_lane"]) == 50
    assert frame["lag_max"] == 400, "one scale for every lane"
    assert frame["hidden_lanes"] == 2 and frame["hidden"] == ["c3", "c4"]
    lanes = {x["name"]: x for x in frame["lanes"]}
    assert lanes["c0"]["worker"] == "paused" and lanes["c1"]["worker"] is None
    focus = lanes["c1"]["focus"]
    assert focus is not None and len(focus["cells"]) == FOCUS_CELLS
    assert focus["lo"] <= 100 < focus["lo"] + FOCUS_CELLS
    assert focus["cells"][100 - focus["lo"]] == "A" and focus["cells"][-1] == "U"
    assert "legend" in frame and frame["legend"] == palette.legend()


def test_cells_are_the_frames_codes_in_words() -> None:
    m = stream(8, ["events.a", "events.b"])
    reconcile.apply_consumer_info(m, info("a", filter_subject="events.a", delivered=(5, 3)))
    frame = view.build_frame(m, view.Status(), capacity=60)
    words = {s.code: s.word for s in palette.STATES}
    got = view.cells(m, 60)
    assert got[""] == {s: words[c] for s, c in zip(range(1, 9), frame["stream_lane"], strict=True)}
    assert got["a"] == {s: words[c] for s, c in enumerate(frame["lanes"][0]["cells"], start=1)}


def test_table_is_the_report_type_with_a_stable_repr() -> None:
    m = stream(3)
    c = info("c", delivered=(2, 2), max_ack_pending=1000, num_pending=1)
    reconcile.apply_consumer_info(m, c)
    table = view.table(m)
    assert table.rows == {"c": ConsumerNumbers(2, 2, 0, 1000, 0, 1, 0, 2, 2).cli()}
    assert [line.split() for line in repr(table).splitlines()] == [
        ["stream", "EVENTS"],
        (
            "consumer Last Delivered Ack Floor Outstanding Acks "
            "Redelivered Unprocessed Waiting Pulls"
        ).split(),
        ["c", "2", "2", "0", "of", "1000", "0", "1", "0"],
    ]
    assert (
        repr(table).splitlines()[2].endswith("0 of 1000            0            1              0")
    )


def test_worker_text_counts_every_worker() -> None:
    assert view.worker_text([]) is None
    assert view.worker_text(["paused"]) == "paused"
    assert view.worker_text(["running", "paused", "running"]) == "3 workers: 2 running, 1 paused"


@pytest.mark.parametrize(
    ("patterns", "subject_start"),
    [
        (["events.>"], "events."),
        (["notify.>"], "notify."),
        (["events.order.created", "events.order.shipped"], "events.order."),
        (["sensors.>"], "sensors."),
    ],
)
def test_demo_events_fit_the_streams_subjects(patterns: list[str], subject_start: str) -> None:
    from fanout_kit.acks import subject_matches

    events = fit_demo_events(patterns, 20, seed=1)
    assert isinstance(events, list) and len(events) == 20
    for e in events:
        assert e.subject.startswith(subject_start)
        assert any(subject_matches(e.subject, p) for p in patterns)
        assert "id" in e.data and "type" in e.data, "an event a lesson's service can parse"


def test_demo_events_that_cannot_fit_say_so() -> None:
    said = fit_demo_events(["orders"], 5, seed=1)
    assert isinstance(said, str) and "do not fit" in said and "orders" in said


def test_summary_says_what_changed_since_the_previous_frame() -> None:
    m = stream(5)
    reconcile.apply_consumer_info(m, info("c", delivered=(2, 2)))
    before = view.build_frame(m, view.Status(), capacity=60)
    assert before["summary"] == ""
    m.on_delivery("events.x", ack("c", 1, 3, 3))
    m.on_ack(ack("c", 1, 3, 3), AckKind.ACK)
    m.on_delivery("events.x", ack("c", 1, 4, 4))
    m.on_ack(ack("c", 1, 4, 4), AckKind.NAK)
    after = view.build_frame(m, view.Status(), capacity=60, previous=before)
    assert after["summary"] == "c: Ack Floor 2 -> 3; c: 1 nak'd (seq 4)"


def test_cluster_replicas_reach_the_header() -> None:
    m = StreamModel("EVENTS")
    doc = {
        "config": {"subjects": ["events.>"]},
        "state": {"first_seq": 1, "last_seq": 0, "messages": 0},
        "cluster": {
            "leader": "n1",
            "replicas": [{"name": "n2", "current": True, "lag": 0, "active": 1}],
        },
    }
    reconcile.apply_stream_info(m, doc)
    head = view.build_frame(m, view.Status(), capacity=60)["head"]
    assert head["cluster"] == {
        "leader": "n1",
        "replicas": [{"name": "n2", "current": True, "lag": 0, "offline": False}],
    }
    # As nats-server 2.15 says it: lag left out when 0; a killed follower not current.
    later = {
        "cluster": {
            "leader": "n1",
            "replicas": [
                {"name": "n2", "current": True, "active": 5},
                {"name": "n3", "current": False, "active": 0, "lag": 7},
            ],
        }
    }
    assert reconcile.apply_cluster(m, later)
    assert not reconcile.apply_cluster(m, later), "the same answer is no change (no redraw)"
    assert m.cluster is not None
    assert [(r["name"], r["current"], r["lag"]) for r in m.cluster["replicas"]] == [
        ("n2", True, 0),
        ("n3", False, 7),
    ]
    version = m.version
    assert reconcile.mark_leaderless(m)
    assert m.cluster["leader"] is None and m.version > version
    assert not reconcile.mark_leaderless(m), "already leaderless: no news"
    assert len(m.cluster["replicas"]) == 2, "the replicas as last known stay"


def test_a_burst_consumed_between_two_lag_samples_still_shows_as_a_spike() -> None:
    m = stream(0)
    reconcile.apply_consumer_info(m, info("fast"))
    m.sample_lag()
    for s in range(1, 201):  # 200 published and delivered between two samples
        m.on_published(s, "events.x")
    for s in range(1, 201):
        m.on_delivery("events.x", ack("fast", 1, s, s, pending=200 - s))
        m.on_ack(ack("fast", 1, s, s), AckKind.ACK)
    m.sample_lag()
    m.sample_lag()
    assert list(m.consumers["fast"].lag) == [0, 200, 0], "a thin spike, then flat"


def test_table_without_a_column_keeps_the_others_and_refuses_unknown_names() -> None:
    m = stream(3)
    reconcile.apply_consumer_info(m, info("c", delivered=(2, 2), max_ack_pending=1000))
    table = view.table(m)
    shorter = table.without("Waiting Pulls", "Redelivered")
    assert shorter.columns == ("Last Delivered", "Ack Floor", "Outstanding Acks", "Unprocessed")
    head = repr(shorter).splitlines()[1]
    assert "Waiting Pulls" not in head and "Redelivered" not in head
    assert repr(shorter).splitlines()[2].split() == ["c", "2", "2", "0", "of", "1000", "0"]
    assert table.columns == COLUMNS  # the original is unchanged
    with pytest.raises(BadArgument, match="Waiting pulls"):
        table.without("Waiting pulls")
