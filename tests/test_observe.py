"""The board's model, without a server: events in, numbers and per-message states out."""

from __future__ import annotations

from fanout_kit import reconcile
from fanout_kit.cells import Truth
from fanout_kit.observe import (
    AckKind,
    AckSubject,
    MsgState,
    StreamModel,
    parse_ack_kind,
    parse_ack_subject,
    parse_puback,
    subject_matches,
)


def ack(consumer: str, dc: int, sseq: int, cseq: int, pending: int = 0) -> AckSubject:
    return AckSubject("EVENTS", consumer, dc, sseq, cseq, 1_700_000_000_000_000_000, pending)


def cell(m: StreamModel, name: str, seq: int) -> MsgState:
    """The drawn state of one cell (the window 1..last)."""
    hi = max(m.last_seq, seq)
    return Truth(m, 1, hi).lane(m.consumers[name]).states[seq - 1]


def model(*consumers: tuple[str, list[str]], retention: str = "limits") -> StreamModel:
    m = StreamModel("EVENTS")
    reconcile.apply_stream_info(
        m,
        {
            "config": {"subjects": ["events.>"], "retention": retention},
            "state": {"first_seq": 0, "last_seq": 0, "messages": 0},
        },
    )
    for name, filters in consumers:
        reconcile.apply_consumer_info(
            m,
            {
                "name": name,
                "config": {
                    "durable_name": name,
                    "filter_subjects": filters,
                    "ack_policy": "explicit",
                },
                "delivered": {"stream_seq": 0, "consumer_seq": 0},
                "ack_floor": {"stream_seq": 0, "consumer_seq": 0},
                "num_pending": 0,
                "num_ack_pending": 0,
                "num_redelivered": 0,
            },
        )
    return m


def publish(m: StreamModel, *subjects: str) -> None:
    for subject in subjects:
        m.on_published(m.last_seq + 1, subject)


def test_parse_ack_subject_v1_layout() -> None:
    a = parse_ack_subject("$JS.ACK.EVENTS.audit.2.17.40.1795773520562548847.5")
    assert a == AckSubject("EVENTS", "audit", 2, 17, 40, 1795773520562548847, 5)


def test_parse_ack_subject_v2_layout_with_and_without_random_token() -> None:
    base = "$JS.ACK.hub.ACCHASH.EVENTS.audit.3.17.40.1795773520562548847.5"
    for subject in (base, base + ".r4nd0m"):
        a = parse_ack_subject(subject)
        assert a is not None
        assert (a.stream, a.consumer, a.delivered, a.stream_seq, a.consumer_seq, a.pending) == (
            "EVENTS",
            "audit",
            3,
            17,
            40,
            5,
        )
        assert (a.domain, a.account_hash) == ("hub", "ACCHASH")
    no_domain = parse_ack_subject("$JS.ACK._.ACCHASH.EVENTS.audit.1.1.1.1.0.x")
    assert no_domain is not None and no_domain.domain is None


def test_parse_rejects_what_is_not_an_ack_subject() -> None:
    assert parse_ack_subject("_INBOX.abc.def") is None
    assert parse_ack_subject("$JS.ACK.EVENTS.audit.x.1.1.1.0") is None
    assert parse_ack_subject("$JS.ACK.EVENTS.audit.1.1") is None


def test_parse_ack_kind_and_puback() -> None:
    assert parse_ack_kind(b"") is AckKind.ACK
    assert parse_ack_kind(b"+ACK") is AckKind.ACK
    assert parse_ack_kind(b'-NAK {"delay": 1000}') is AckKind.NAK
    assert parse_ack_kind(b"+WPI") is AckKind.PROGRESS
    assert parse_ack_kind(b"+TERM reason") is AckKind.TERM
    assert parse_ack_kind(b"garbage") is None
    assert parse_puback(b'{"stream":"EVENTS","seq":42}', "EVENTS") == 42
    assert parse_puback(b'{"stream":"OTHER","seq":42}', "EVENTS") is None
    assert (
        parse_puback(b'{"type":"io.nats.jetstream.api.v1.stream_info_response"}', "EVENTS") is None
    )


def test_subject_matching() -> None:
    assert subject_matches("events.orders.new", "events.>")
    assert subject_matches("events.orders", "events.*")
    assert not subject_matches("events.orders.new", "events.*")
    assert not subject_matches("events", "events.>")
    assert subject_matches("a.b", "a.b")
    assert not subject_matches("a.c", "a.b")


def test_ack_floor_moves_only_over_a_contiguous_run_of_acks() -> None:
    m = model(("c", []))
    publish(m, *["events.x"] * 4)
    for i in range(1, 5):
        m.on_delivery("events.x", ack("c", 1, i, i, 4 - i))
    assert m.snapshot()["c"]["num_ack_pending"] == 4
    m.on_ack(ack("c", 1, 3, 3), AckKind.ACK)
    m.on_ack(ack("c", 1, 2, 2), AckKind.ACK)
    assert m.snapshot()["c"]["ack_floor"] == 0, "seq 1 is not acked, so the floor stays"
    m.on_ack(ack("c", 1, 1, 1), AckKind.ACK)
    snap = m.snapshot()["c"]
    assert snap["ack_floor"] == 3 and snap["num_ack_pending"] == 1
    assert snap["delivered"] == 4 and snap["num_pending"] == 0
    m.on_ack(ack("c", 1, 4, 4), AckKind.ACK)
    assert m.snapshot()["c"]["ack_floor"] == 4
    assert [cell(m, "c", s) for s in range(1, 5)] == [MsgState.ACKED] * 4


def test_redelivery_counts_nak_and_term() -> None:
    m = model(("c", []))
    publish(m, "events.a", "events.b")
    m.on_delivery("events.a", ack("c", 1, 1, 1, 1))
    m.on_delivery("events.b", ack("c", 1, 2, 2, 0))
    m.on_ack(ack("c", 1, 1, 1), AckKind.NAK)
    assert cell(m, "c", 1) is MsgState.NAKED
    assert m.snapshot()["c"]["num_redelivered"] == 0, "counted on redelivery, not on nak"
    m.on_delivery("events.a", ack("c", 2, 1, 3, 0))
    assert cell(m, "c", 1) is MsgState.REDELIVERED
    m.on_delivery("events.a", ack("c", 3, 1, 4, 0))  # ack wait expired once more
    snap = m.snapshot()["c"]
    assert snap["num_redelivered"] == 1 and snap["num_ack_pending"] == 2
    assert m.consumers["c"].rdc[1] == 2, "redelivered twice"
    m.on_ack(ack("c", 1, 2, 2), AckKind.TERM)
    assert cell(m, "c", 2) is MsgState.TERMINATED
    assert m.snapshot()["c"]["ack_floor"] == 0
    m.on_ack(ack("c", 3, 1, 4), AckKind.ACK)
    snap = m.snapshot()["c"]
    assert (snap["ack_floor"], snap["num_ack_pending"], snap["num_redelivered"]) == (2, 0, 0)


def test_in_progress_keeps_the_message_outstanding() -> None:
    m = model(("c", []))
    publish(m, "events.a")
    m.on_delivery("events.a", ack("c", 1, 1, 1))
    m.on_ack(ack("c", 1, 1, 1), AckKind.PROGRESS)
    assert cell(m, "c", 1) is MsgState.WORKING, "in progress: still outstanding, drawn working"
    assert m.snapshot()["c"]["num_ack_pending"] == 1


def test_filter_mismatch_and_num_pending_per_filter() -> None:
    m = model(("orders", ["events.orders"]), ("all", []))
    publish(m, "events.orders", "events.users", "events.users", "events.orders")
    assert m.snapshot()["orders"]["num_pending"] == 2
    assert m.snapshot()["all"]["num_pending"] == 4
    m.on_delivery("events.orders", ack("orders", 1, 1, 1, 1))
    m.on_delivery("events.orders", ack("orders", 1, 4, 2, 0))
    assert [cell(m, "orders", s) for s in range(1, 5)] == [
        MsgState.IN_FLIGHT,
        MsgState.FILTERED,
        MsgState.FILTERED,
        MsgState.IN_FLIGHT,
    ]
    assert m.snapshot()["orders"]["num_pending"] == 0


def test_filter_skip_inferred_from_consecutive_consumer_sequences() -> None:
    m = model(("orders", ["events.orders"]))
    m.on_published(5)  # publish acks seen, subjects unknown
    assert m.snapshot()["orders"]["num_pending"] == 5, "unknown subjects count (never under)"
    m.on_delivery("events.orders", ack("orders", 1, 1, 1, 1))
    m.on_delivery("events.orders", ack("orders", 1, 4, 2, 0))
    assert cell(m, "orders", 2) is MsgState.FILTERED
    assert cell(m, "orders", 5) is MsgState.UNDELIVERED


def test_missed_deliveries_hold_the_floor_until_reconcile() -> None:
    m = model(("c", []))
    publish(m, *["events.x"] * 3)
    m.on_delivery("events.x", ack("c", 1, 1, 1))
    m.on_delivery("events.x", ack("c", 1, 3, 3))  # delivery of seq 2 never seen
    m.on_ack(ack("c", 1, 1, 1), AckKind.ACK)
    m.on_ack(ack("c", 1, 3, 3), AckKind.ACK)
    snap = m.snapshot()["c"]
    assert snap["ack_floor"] == 1 and snap["num_ack_pending"] == 1
    # Rule 9: the first message above the floor cannot be acked (the floor would be higher).
    assert cell(m, "c", 2) is MsgState.IN_FLIGHT


def test_reconcile_takes_the_server_numbers_exactly() -> None:
    m = model(("c", []))
    publish(m, *["events.x"] * 3)
    info = {
        "name": "c",
        "config": {"durable_name": "c", "ack_policy": "explicit", "max_ack_pending": 1000},
        "delivered": {"stream_seq": 3, "consumer_seq": 4},
        "ack_floor": {"stream_seq": 1, "consumer_seq": 1},
        "num_pending": 0,
        "num_ack_pending": 2,
        "num_redelivered": 1,
        "num_waiting": 1,
    }
    reconcile.apply_consumer_info(m, info)
    snap = m.snapshot()["c"]
    assert {k: snap[k] for k in ("delivered", "ack_floor", "num_ack_pending")} == {
        "delivered": 3,
        "ack_floor": 1,
        "num_ack_pending": 2,
    }
    assert (snap["num_redelivered"], snap["num_waiting"], snap["max_ack_pending"]) == (1, 1, 1000)


def test_a_consumer_moved_back_forgets_what_came_after(  # js.reset_consumer
) -> None:
    m = model(("c", []))
    publish(m, *["events.x"] * 6)
    for i in range(1, 7):
        m.on_delivery("events.x", ack("c", 1, i, i))
        if i != 4:
            m.on_ack(ack("c", 1, i, i), AckKind.ACK)
    m.on_delivery("events.x", ack("c", 5, 4, 7))  # the poison, delivered five times ...
    m.on_ack(ack("c", 5, 4, 7), AckKind.TERM)  # ... then terminated
    assert cell(m, "c", 4) is MsgState.TERMINATED and m.consumers["c"].trace == {4: 5}
    reset = {
        "name": "c",
        "config": {"durable_name": "c", "ack_policy": "explicit"},
        "delivered": {"stream_seq": 3, "consumer_seq": 3},
        "ack_floor": {"stream_seq": 3, "consumer_seq": 3},
        "num_pending": 3,
    }
    reconcile.apply_consumer_info(m, reset)
    assert [cell(m, "c", s) for s in (3, 4, 5, 6)] == [MsgState.ACKED, *[MsgState.UNDELIVERED] * 3]
    assert m.consumers["c"].trace == {}, "the server's delivery counts start again"
    m.on_delivery("events.x", ack("c", 1, 4, 4, 2))  # the replay: a first delivery again
    m.on_ack(ack("c", 1, 4, 4), AckKind.ACK)
    assert cell(m, "c", 4) is MsgState.ACKED and m.consumers["c"].trace == {}
    assert m.snapshot()["c"]["delivered"] == 4


def test_running_reconcile_only_moves_forward() -> None:
    m = model(("c", []))
    publish(m, *["events.x"] * 3)
    for i in range(1, 4):
        m.on_delivery("events.x", ack("c", 1, i, i))
    stale = {
        "name": "c",
        "config": {"durable_name": "c", "ack_policy": "explicit"},
        "delivered": {"stream_seq": 1, "consumer_seq": 1},
        "ack_floor": {"stream_seq": 0, "consumer_seq": 0},
    }
    reconcile.apply_consumer_info(m, stale, exact=False)
    assert m.snapshot()["c"]["delivered"] == 3


def test_removed_from_the_stream() -> None:
    m = model(("c", ["events.a"]), retention="interest")
    publish(m, "events.a", "events.b", "events.a")
    assert m.removed(2), "interest retention: no consumer wants events.b"
    assert not m.removed(1)
    m.on_delivery("events.a", ack("c", 1, 1, 1, 1))
    m.on_ack(ack("c", 1, 1, 1), AckKind.ACK)
    assert m.removed(1), "acked by every interested consumer"
    reconcile.apply_stream_info(
        m, {"config": {"retention": "interest"}, "state": {"first_seq": 3, "last_seq": 3}}
    )
    assert cell(m, "c", 3) is MsgState.UNDELIVERED
    limits = model(("c", []))
    limits.on_published(10, "events.a")
    reconcile.apply_stream_info(
        limits, {"config": {"retention": "limits"}, "state": {"first_seq": 8, "last_seq": 10}}
    )
    assert cell(limits, "c", 7) is MsgState.REMOVED
    assert limits.snapshot()["c"]["num_pending"] == 3


def test_max_deliveries_leaves_floor_and_redelivered_count() -> None:
    m = model(("c", []))
    publish(m, "events.a")
    m.on_delivery("events.a", ack("c", 1, 1, 1))
    m.on_delivery("events.a", ack("c", 2, 1, 2))
    m.on_max_deliveries("c", 1)
    snap = m.snapshot()["c"]
    assert (snap["num_ack_pending"], snap["num_redelivered"], snap["ack_floor"]) == (0, 1, 0)
    assert cell(m, "c", 1) is MsgState.EXHAUSTED


def test_ack_all_policy_acks_everything_below() -> None:
    m = model(("c", []))
    m.consumers["c"].ack_policy = "all"
    publish(m, *["events.x"] * 3)
    for i in range(1, 4):
        m.on_delivery("events.x", ack("c", 1, i, i))
    m.on_ack(ack("c", 1, 2, 2), AckKind.ACK)
    snap = m.snapshot()["c"]
    assert (snap["ack_floor"], snap["num_ack_pending"]) == (2, 1)


def test_snapshot_shape_is_plain_data() -> None:
    m = model(("b", []), ("a", []))
    snap = m.snapshot()
    assert list(snap) == ["a", "b"]
    for numbers in snap.values():
        for key in ("delivered", "ack_floor", "num_pending", "num_ack_pending", "num_redelivered"):
            assert type(numbers[key]) is int


def test_trim_keeps_counts() -> None:
    m = model(("c", []))
    publish(m, *["events.x"] * 100)
    for i in range(1, 101):
        m.on_delivery("events.x", ack("c", 1, i, i))
        m.on_ack(ack("c", 1, i, i), AckKind.ACK)
    before = m.snapshot()
    m.trim(90)
    assert m.snapshot() == before
    assert len(m.consumers["c"].done) <= 11


def overview_info(
    delivered: tuple[int, int], floor: tuple[int, int], *, np: int, nap: int, nrd: int = 0
) -> dict[str, object]:
    return {
        "name": "c",
        "config": {"durable_name": "c", "ack_policy": "explicit"},
        "delivered": {"stream_seq": delivered[0], "consumer_seq": delivered[1]},
        "ack_floor": {"stream_seq": floor[0], "consumer_seq": floor[1]},
        "num_pending": np,
        "num_ack_pending": nap,
        "num_redelivered": nrd,
    }


def test_overview_claims_only_what_consumer_info_implies() -> None:
    """Overload mode: acked to the floor, unknown to Last Delivered, undelivered after."""
    m = model(("c", []))
    publish(m, *["events.x"] * 10)
    m.on_delivery("events.x", ack("c", 1, 1, 1))
    m.on_delivery("events.x", ack("c", 1, 2, 2))
    m.on_ack(ack("c", 1, 2, 2), AckKind.ACK)  # per-message detail: 2 acked, 1 in flight
    reconcile.apply_overview(m, overview_info((7, 8), (4, 4), np=3, nap=3, nrd=1))
    states = [cell(m, "c", s) for s in range(1, 11)]
    # Three outstanding acks for the three messages between the floor and Last Delivered:
    # every one of them is in flight.
    assert states == [MsgState.ACKED] * 4 + [MsgState.IN_FLIGHT] * 3 + [MsgState.UNDELIVERED] * 3
    snap = m.snapshot()["c"]
    assert (snap["delivered"], snap["ack_floor"]) == (7, 4)
    assert (snap["num_pending"], snap["num_ack_pending"], snap["num_redelivered"]) == (3, 3, 1)


def test_overview_never_moves_the_cursors_back_and_errs_high_on_growth() -> None:
    m = model(("c", []))
    publish(m, *["events.x"] * 10)
    reconcile.apply_overview(m, overview_info((7, 7), (5, 5), np=3, nap=2))
    reconcile.apply_overview(m, overview_info((6, 6), (3, 3), np=4, nap=3))  # an older answer
    snap = m.snapshot()["c"]
    assert (snap["delivered"], snap["ack_floor"]) == (7, 5)
    assert snap["num_pending"] >= 3
    reconcile.apply_stream_info(
        m, {"config": {"subjects": ["events.>"]}, "state": {"last_seq": 12}}, exact=False
    )
    assert m.snapshot()["c"]["num_pending"] >= 5, "the stream grew: Unprocessed grows with it"


def test_overview_with_fewer_outstanding_than_messages_says_unknown() -> None:
    """Two outstanding acks among three messages: the first is in flight, the other two are
    "delivered before the board watched" (the server cannot tell which one was acked)."""
    m = model(("c", []))
    publish(m, *["events.x"] * 10)
    reconcile.apply_overview(m, overview_info((7, 7), (4, 4), np=3, nap=2))
    states = [cell(m, "c", s) for s in range(4, 9)]
    assert states == [
        MsgState.ACKED,
        MsgState.IN_FLIGHT,
        MsgState.UNKNOWN,
        MsgState.UNKNOWN,
        MsgState.UNDELIVERED,
    ]
    reconcile.apply_overview(m, overview_info((7, 7), (4, 4), np=3, nap=1))
    assert [cell(m, "c", s) for s in (5, 6, 7)] == [MsgState.IN_FLIGHT] + [MsgState.ACKED] * 2


def test_an_ack_that_arrives_before_its_delivery_still_counts() -> None:
    """Acks and deliveries reach the board on different subscriptions, each with its own
    queue: under load the ack of a message can be handled before its delivery."""
    m = model(("c", []))
    publish(m, "events.a", "events.b")
    m.on_ack(ack("c", 1, 1, 1), AckKind.ACK)  # before the delivery of 1
    m.on_delivery("events.a", ack("c", 1, 1, 1, 1))
    m.on_delivery("events.b", ack("c", 1, 2, 2, 0))
    m.on_ack(ack("c", 1, 2, 2), AckKind.NAK)
    m.on_ack(ack("c", 2, 2, 3), AckKind.ACK)  # the redelivery's ack before the redelivery
    m.on_delivery("events.b", ack("c", 2, 2, 3, 0))
    snap = m.snapshot()["c"]
    assert (snap["ack_floor"], snap["num_ack_pending"]) == (2, 0)
    assert [cell(m, "c", s) for s in (1, 2)] == [MsgState.ACKED, MsgState.ACKED]
    assert m.consumers["c"].trace == {2: 2}


def test_max_deliveries_advisory_before_the_last_deliverys_copy() -> None:
    m = model(("c", []))
    publish(m, "events.a")
    m.on_delivery("events.a", ack("c", 1, 1, 1))
    m.on_ack(ack("c", 1, 1, 1), AckKind.NAK)
    m.on_max_deliveries("c", 1, deliveries=2)  # the advisory overtook delivery 2 and its nak
    m.on_delivery("events.a", ack("c", 2, 1, 2))
    m.on_ack(ack("c", 2, 1, 2), AckKind.NAK)
    assert cell(m, "c", 1) is MsgState.EXHAUSTED
    snap = m.snapshot()["c"]
    assert (snap["num_ack_pending"], snap["num_redelivered"]) == (0, 1), "as the server counts"
