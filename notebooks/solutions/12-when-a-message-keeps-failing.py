"""Solution: lesson 12, exercise "dead letters for the refund service"."""

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig


async def dead_letters(js):
    # The refund service's consumer: durable, explicit acks, and the server gives a refund up
    # after 3 deliveries (the first try and two retries) instead of forever (max_deliver -1).
    await js.add_consumer(
        "REFUNDS",
        ConsumerConfig(
            durable_name="refunder",
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            max_deliver=3,
        ),
    )
    # When it gives up, the server publishes a MAX_DELIVERIES advisory on
    # $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>. A stream on that subject
    # keeps every one: the dead letters. '*' takes every consumer of REFUNDS; limits retention
    # (the default) keeps them until someone looks, here for up to 30 days.
    await js.add_stream(
        StreamConfig(
            name="REFUNDS_DLQ",
            subjects=["$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.REFUNDS.*"],
            max_age=30 * 24 * 3600,
        )
    )
