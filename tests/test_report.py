"""The CLI table (fanout_kit/report.py): its numbers against the server's own consumer info,
the fixed-width text a lesson's saved output compares, and relabelling (lesson 04 shows an
ordered consumer's random name as "dashboard")."""

from __future__ import annotations

import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from fanout_kit import BadArgument, TopologyError, consumer_table, reset_streams
from fanout_kit.report import COLUMNS, ConsumerNumbers, ConsumerTable

from .conftest import fresh_stream

STREAM = "REPORTED"


def test_the_table_lines_up_under_the_cli_names() -> None:
    table = ConsumerTable.of(
        "EVENTS",
        {
            "billing": ConsumerNumbers(12, 10, 2, 1000, 1, 5, 0),
            "a-very-long-name": ConsumerNumbers(3, 3, 0, -1, 0, 14, 1),
        },
    )
    assert repr(table) == (
        "stream EVENTS\n"
        "consumer          Last Delivered  Ack Floor  Outstanding Acks  Redelivered"
        "  Unprocessed  Waiting Pulls\n"
        "billing                       12         10         2 of 1000            1"
        "            5              0\n"
        "a-very-long-name               3          3    0 of unlimited            0"
        "           14              1"
    )
    assert str(table) == repr(table)


def test_an_empty_table_says_so() -> None:
    assert repr(ConsumerTable.of("EVENTS", {})).splitlines()[-1] == "(no consumers)"


def test_a_notebook_shows_an_html_table_with_header_cells_and_escaped_names() -> None:
    """What JupyterLab renders: a real table (a screen reader reads the row and column
    headers), the CLI's names split over two lines so it fits at 1024 px, names escaped."""
    from html.parser import HTMLParser

    table = ConsumerTable.of("EVENTS", {"<b>ill": ConsumerNumbers(12, 10, 2, 1000, 1, 5, 0)})

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.cells: list[tuple[str, str]] = []
            self.tag = ""

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in ("th", "td", "caption"):
                self.tag = tag
                self.cells.append((tag, ""))

        def handle_data(self, data: str) -> None:
            if self.tag:
                tag, text = self.cells[-1]
                self.cells[-1] = (tag, (text + " " + data).strip())

        def handle_endtag(self, tag: str) -> None:
            if tag in ("th", "td", "caption"):
                self.tag = ""

    parsed = Cells()
    parsed.feed(table._repr_html_())
    assert parsed.cells == [
        ("caption", "stream EVENTS"),
        ("th", "consumer"),
        *(("th", name) for name in COLUMNS),
        ("th", "<b>ill"),
        *(("td", v) for v in ("12", "10", "2 of 1000", "1", "5", "0")),
    ]
    assert "<br>" in table._repr_html_()  # "Last" over "Delivered"
    without = table.without("Waiting Pulls")._repr_html_()
    assert "Waiting" not in without
    assert "(no consumers)" in ConsumerTable.of("EVENTS", {})._repr_html_()


def test_the_json_of_the_api_gives_the_same_numbers_as_nats_py() -> None:
    doc = {
        "delivered": {"stream_seq": 12, "consumer_seq": 7},
        "ack_floor": {"stream_seq": 10, "consumer_seq": 5},
        "num_ack_pending": 2,
        "num_redelivered": 1,
        "num_pending": 5,
        "num_waiting": 0,
        "config": {"max_ack_pending": 1000},
    }
    assert ConsumerNumbers.from_info(doc) == ConsumerNumbers(12, 10, 2, 1000, 1, 5, 0, 7, 5)
    assert list(ConsumerNumbers.from_info(doc).cli()) == list(COLUMNS)


async def test_the_table_shows_what_consumer_info_says(js: JetStreamContext) -> None:
    await fresh_stream(js, STREAM, ("reported.>",))
    try:
        for i in range(6):
            await js.publish(f"reported.{i}", b"x")
        for name in ("b-late", "a-early"):
            await js.add_consumer(
                STREAM,
                ConsumerConfig(durable_name=name, ack_policy=AckPolicy.EXPLICIT),
            )
        sub = await js.pull_subscribe_bind("a-early", stream=STREAM)
        msgs = await sub.fetch(4, timeout=2)
        for msg in msgs[:3]:
            await msg.ack_sync()
        await sub.unsubscribe()

        table = await consumer_table(js, STREAM)
        assert list(table.rows) == ["a-early", "b-late"]  # sorted by name
        for name in table.rows:
            info = await js.consumer_info(STREAM, name)
            assert table.rows[name] == ConsumerNumbers.from_info(info).cli()
        assert table.rows["a-early"] == {
            "Last Delivered": 4,
            "Ack Floor": 3,
            "Outstanding Acks": "1 of 1000",
            "Redelivered": 0,
            "Unprocessed": 2,
            "Waiting Pulls": 0,
        }
        one = await consumer_table(js, STREAM, "b-late")
        assert list(one.rows) == ["b-late"] and one.rows["b-late"]["Unprocessed"] == 6
    finally:
        await reset_streams(js, STREAM)


async def test_what_is_missing_is_named(js: JetStreamContext) -> None:
    await reset_streams(js, STREAM)
    with pytest.raises(TopologyError, match=f"stream '{STREAM}' does not exist") as exc:
        await consumer_table(js, STREAM)
    assert exc.value.param == "stream"
    await fresh_stream(js, STREAM, ("reported.>",))
    try:
        with pytest.raises(TopologyError, match="or a consumer of it") as exc:
            await consumer_table(js, STREAM, ["nobody"])
        assert exc.value.param == "names"
    finally:
        await reset_streams(js, STREAM)


@pytest.mark.parametrize(
    ("args", "param"),
    [
        (("js", STREAM), "js"),
        ((None, "a.b"), "stream name"),
        ((None, STREAM, ["x y"]), "consumer name"),
    ],
)
async def test_bad_arguments_are_refused_before_asking(
    js: JetStreamContext, args: tuple[object, ...], param: str
) -> None:
    call = (args[0] if args[0] is not None else js, *args[1:])
    with pytest.raises(BadArgument) as exc:
        await consumer_table(*call)
    assert exc.value.param == param and "Fix" in str(exc.value)


def _table() -> ConsumerTable:
    return ConsumerTable.of(
        "EVENTS",
        {
            "QNksfI3K": ConsumerNumbers(30, 30, 0, -1, 0, 0, 0),
            "processor": ConsumerNumbers(10, 10, 0, 1000, 0, 20, 0),
        },
    )


def test_relabel_renames_rows_and_sorts_by_the_names_shown() -> None:
    table = _table().relabel({"QNksfI3K": "dashboard"})
    assert list(table.rows) == ["dashboard", "processor"]
    assert table.rows["dashboard"]["Last Delivered"] == 30
    assert table.rows["dashboard"]["Outstanding Acks"] == "0 of unlimited"
    lines = repr(table).splitlines()
    assert lines[0] == "stream EVENTS"
    assert lines[2].split()[0] == "dashboard" and lines[3].split()[0] == "processor"
    assert "QNksfI3K" not in repr(table)


def test_relabel_leaves_the_original_alone() -> None:
    table = _table()
    table.relabel({"processor": "worker"})
    assert list(table.rows) == ["QNksfI3K", "processor"]


@pytest.mark.parametrize(
    "labels, says",
    [
        ({"nope": "dashboard"}, "keys among the table's"),
        ({"QNksfI3K": ""}, "non-empty strings"),
        ({"QNksfI3K": 5}, "non-empty strings"),
        ({"QNksfI3K": "processor"}, "stay distinct"),
        (["QNksfI3K"], "a dict of"),
    ],
)
def test_relabel_refuses_bad_labels_naming_the_parameter(labels: object, says: str) -> None:
    with pytest.raises(BadArgument, match=says) as caught:
        _table().relabel(labels)
    assert caught.value.param == "labels"
