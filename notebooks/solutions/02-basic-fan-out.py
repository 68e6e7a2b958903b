"""Solution: lesson 02, exercise "a billing consumer that has read 4 messages"."""

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


async def create_billing(js):
    await js.add_consumer(
        "EVENTS",
        ConsumerConfig(
            durable_name="billing",
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
        ),
    )
    sub = await js.pull_subscribe_bind(durable="billing", stream="EVENTS")
    msgs = await sub.fetch(4, timeout=5)
    for msg in msgs:
        await msg.ack_sync()
    await sub.unsubscribe()
