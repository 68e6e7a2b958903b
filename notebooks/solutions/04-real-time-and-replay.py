"""Solution: lesson 04, exercise "late-report"."""

from nats.js.api import ConsumerConfig, DeliverPolicy, ReplayPolicy


async def make_late_report(js, since):
    # Durable (it keeps its position), starts at a moment in time, and hands out
    # the backlog as fast as the report can take it.
    return await js.add_consumer(
        "EVENTS",
        ConsumerConfig(
            durable_name="late-report",
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=since,
            replay_policy=ReplayPolicy.INSTANT,
        ),
    )
