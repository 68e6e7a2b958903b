"""ConsumerTable: the numbers under the `nats` CLI's names, and showing fewer columns."""

from __future__ import annotations

import pytest

from fanout_kit.errors import KitTypeError, KitValueError
from fanout_kit.report import COLUMNS, ConsumerNumbers, ConsumerTable


def numbers(waiting: int) -> ConsumerNumbers:
    return ConsumerNumbers(
        last_delivered=45,
        ack_floor=44,
        outstanding=1,
        max_ack_pending=1000,
        redelivered=0,
        unprocessed=3,
        waiting=waiting,
    )


def test_without_leaves_a_column_out_of_the_text_and_keeps_the_numbers() -> None:
    table = ConsumerTable.of("EVENTS", {"audit": numbers(1), "order-processor": numbers(0)})
    assert repr(table).splitlines()[1].endswith("Waiting Pulls")
    short = table.without("Waiting Pulls")
    assert repr(short).splitlines() == [
        "stream EVENTS",
        "consumer         Last Delivered  Ack Floor  Outstanding Acks  Redelivered  Unprocessed",
        "audit                        45         44         1 of 1000            0            3",
        "order-processor              45         44         1 of 1000            0            3",
    ]
    # The flickering figure no longer decides the text; the rows still hold it.
    other = ConsumerTable.of("EVENTS", {"audit": numbers(0), "order-processor": numbers(2)})
    assert repr(other.without("Waiting Pulls")) == repr(short)
    assert short.rows["audit"]["Waiting Pulls"] == 1
    assert table.columns == COLUMNS, "without() returns a new table"
    assert short.without("Redelivered").columns == (
        "Last Delivered",
        "Ack Floor",
        "Outstanding Acks",
        "Unprocessed",
    )


def test_without_an_unknown_column_names_the_columns() -> None:
    table = ConsumerTable.of("EVENTS", {"audit": numbers(0)})
    with pytest.raises(KitValueError, match="'Waiting pulls' is not a column") as info:
        table.without("Waiting pulls")
    assert info.value.param == "columns" and "Waiting Pulls" in str(info.value)
    with pytest.raises(KitTypeError, match="each must be a column name"):
        table.without(5)  # type: ignore[arg-type]
