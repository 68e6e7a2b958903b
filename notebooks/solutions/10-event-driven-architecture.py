"""Solution: lesson 10, exercise "an inventory service"."""

import json

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


async def inventory_service(js, counts):
    # The service declares its own consumer: durable (it keeps its place across restarts),
    # the whole history (stock counts need every order), and only the two subjects it needs,
    # so the server does the sorting.
    await js.add_consumer(
        "EVENTS",
        ConsumerConfig(
            durable_name="inventory",
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            filter_subjects=["events.order.created", "events.order.shipped"],
        ),
    )
    sub = await js.pull_subscribe_bind(durable="inventory", stream="EVENTS")
    try:
        while True:  # runs until its task is cancelled
            try:
                msgs = await sub.fetch(10, timeout=1)
            except TimeoutError:  # nothing new (nats.errors.TimeoutError is a TimeoutError)
                continue
            for msg in msgs:
                event = json.loads(msg.data)
                counts[event["type"]] += 1
                await msg.ack()  # counted: the server may forget it for this consumer
    finally:
        await sub.unsubscribe()  # leave no pull request behind at the server
