"""Solution: lesson 05, exercise "temperature alerts"."""

from nats.js.api import RePublish, StreamConfig


async def temp_alerts(js):
    # The stream still stores every reading (sensors.>); only the republish is narrowed.
    # The source's one wildcard, the device, is {{wildcard(1)}} in the destination (the
    # older form alerts.temp.$1 does the same); "temp" is a literal on both sides. A '>'
    # in the destination would be refused: the source has no '>' for it to take.
    await js.add_stream(
        StreamConfig(
            name="SENSOR_DATA",
            subjects=["sensors.>"],
            republish=RePublish(src="sensors.*.temp", dest="alerts.temp.{{wildcard(1)}}"),
        )
    )
    # What a lightweight alert subscriber passes to nc.subscribe: one token per device.
    return "alerts.temp.*"
