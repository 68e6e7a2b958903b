"""The consumer table's text form and relabelling (lesson 04 shows an ordered consumer's random
name as "dashboard")."""

from __future__ import annotations

import pytest

from fanout_kit.args import BadArgument
from fanout_kit.report import ConsumerNumbers, ConsumerTable


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
        _table().relabel(labels)  # type: ignore[arg-type]
    assert caught.value.parameter == "labels"
