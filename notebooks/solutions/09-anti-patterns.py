"""Solution: lesson 09, exercise "fix the billing setup"."""

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType


async def safe_setup(js):
    # Bounded: events older than 7 days go, which is exactly as far back as billing replays.
    await js.add_stream(
        name="EVENTS",
        subjects=["events.>"],
        retention=RetentionPolicy.LIMITS,
        max_age=7 * 24 * 3600,  # seconds
        storage=StorageType.FILE,
    )
    # Durable and without an inactive threshold: its position survives any downtime.
    await js.add_consumer(
        "EVENTS",
        ConsumerConfig(
            durable_name="billing",
            filter_subject="events.payment.>",
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
        ),
    )
