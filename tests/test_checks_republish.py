"""Lesson 05's checker against a real server: each wrong answer and its hint
(stub, solution and learner exceptions: test_checks_contract.py)."""

from __future__ import annotations

import pytest
from nats.js.api import RePublish, StreamConfig

from fanout_kit import reset_streams
from fanout_kit.checks import republish

from .conftest import assert_wrong
from .solutions import load_solution

GOOD = RePublish(src="sensors.*.temp", dest="alerts.temp.{{wildcard(1)}}")


def _solution():
    return load_solution("05-republish")


async def _delete(js, *names: str) -> None:
    for name in names:
        await reset_streams(js, name)


@pytest.fixture(autouse=True)
async def _clean(js):
    await _delete(js, "SENSOR_DATA", "SENSORS")
    yield
    await _delete(js, "SENSOR_DATA", "SENSORS")


def _maker(republish_=GOOD, subject="alerts.temp.*", subjects=("sensors.>",), name="SENSOR_DATA"):
    async def create(js):
        await js.add_stream(StreamConfig(name=name, subjects=list(subjects), republish=republish_))
        return subject

    return create


async def test_solution_is_accepted_over_an_old_stream(js) -> None:
    """A SENSOR_DATA left with the reference doc's republish is replaced (accepted twice on a
    fresh one: test_checks_contract.py)."""
    await js.add_stream(
        StreamConfig(
            name="SENSOR_DATA",
            subjects=["sensors.>"],
            republish=RePublish(src=">", dest="broadcast.>"),
        )
    )
    result = await republish.temp_alerts(js, _solution().temp_alerts)
    assert result.ok, result


async def test_broader_subscriber_subjects_are_accepted(js) -> None:
    for subject in ("alerts.>", "alerts.temp.>", "alerts.*.*"):
        result = await republish.temp_alerts(js, _maker(subject=subject))
        assert result.ok, (subject, result)


def _rp(src, dest, headers_only=None):
    return RePublish(src=src, dest=dest, headers_only=headers_only)


WRONG = {
    "seed template": (
        {"republish_": _rp("sensors.*.temp", "alerts.temp.{{subject}}")},
        ["error 10052", "no {{subject}} function", "{{wildcard(1)}}"],
    ),
    "gt without gt in source": (
        {"republish_": _rp("sensors.*.temp", "alerts.temp.>")},
        ["error 10052", "has no '>'", "{{wildcard(1)}}"],
    ),
    "star in destination": (
        {"republish_": _rp("sensors.*.temp", "alerts.temp.*")},
        ["error 10052", "cannot contain '*'"],
    ),
    "cycle": (
        {"republish_": _rp("sensors.*.temp", "sensors.alerts.{{wildcard(1)}}")},
        ["error 10052", "inside the stream's own subjects"],
    ),
    "source matching nothing": (
        {"republish_": _rp("sensor.*.temp", "alerts.temp.{{wildcard(1)}}")},
        ["Nothing was republished", "'sensor.*.temp'", "sensors.<device>.temp"],
    ),
    "source too broad": (
        {"republish_": _rp("sensors.>", "alerts.temp.>")},
        ["Humidity readings are republished too", "src='sensors.*.temp'"],
    ),
    "source misses a device": (
        {"republish_": _rp("sensors.dev-01.temp", "alerts.temp.dev-01")},
        ["'sensors.dev-03.temp' was not republished", "src='sensors.*.temp'"],
    ),
    "wrong destination": (
        {"republish_": _rp("sensors.*.temp", "alerts.{{wildcard(1)}}.temp")},
        ["arrived on 'alerts.dev-01.temp'", "'alerts.temp.dev-01'"],
    ),
    "headers only": (
        {"republish_": _rp("sensors.*.temp", "alerts.temp.{{wildcard(1)}}", True)},
        ["without their reading", "Nats-Msg-Size", "headers_only"],
    ),
    "stream stores only temperatures": (
        {"subjects": ("sensors.*.temp",)},
        ["stores only ['sensors.*.temp']", "subjects=['sensors.>']"],
    ),
    "no republish": ({"republish_": None}, ["has no republish", "alerts.temp.{{wildcard(1)}}"]),
    "subscriber misses alerts": (
        {"subject": "alerts.sensors.>"},
        ["subscriber on your subject 'alerts.sensors.>' gets 0 of them", "'alerts.temp.*'"],
    ),
    "subscriber on one device": (
        {"subject": "alerts.temp.dev-01"},
        ["gets 1 of them", "misses 'alerts.temp.dev-03'"],
    ),
    "subscriber on the readings": (
        {"subject": "sensors.>"},
        ["gets 0 of them"],
    ),
    "subscriber on everything": (
        {"subject": ">"},
        ["also ['sensors.dev-01.temp'", "not a lightweight alert subscriber"],
    ),
    "returns nothing": ({"subject": None}, ["returned None", "nc.subscribe"]),
    "returns a bad subject": ({"subject": "alerts temp"}, ["whitespace"]),
    "wrong stream name": (
        {"name": "SENSORS"},
        ["no stream named 'SENSOR_DATA'", "you created 'SENSORS'"],
    ),
}


@pytest.mark.parametrize("case", list(WRONG))
async def test_wrong_answers_get_their_hint(js, case: str) -> None:
    kwargs, phrases = WRONG[case]
    result = await republish.temp_alerts(js, _maker(**kwargs))
    assert_wrong(result, phrases)


async def test_update_of_a_deleted_stream_is_explained(js) -> None:
    async def update(js):
        await js.update_stream(
            StreamConfig(name="SENSOR_DATA", subjects=["sensors.>"], republish=GOOD)
        )
        return "alerts.temp.*"

    result = await republish.temp_alerts(js, update)
    assert_wrong(result, ["deletes SENSOR_DATA before calling your function"])


async def test_another_stream_on_the_subjects_is_named(js) -> None:
    await js.add_stream(StreamConfig(name="SENSORS", subjects=["sensors.>"]))
    result = await republish.temp_alerts(js, _solution().temp_alerts)
    assert_wrong(result, ["error 10065"])
    assert "js.delete_stream('SENSORS')" in result.message


def test_expected_alert() -> None:
    assert republish.expected_alert("sensors.dev-07.temp") == "alerts.temp.dev-07"
    assert republish.expected_alert("sensors.dev-07.humidity") is None
