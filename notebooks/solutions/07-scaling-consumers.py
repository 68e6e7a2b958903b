"""Solution: lesson 07, exercise "two thumbnail workers share one durable"."""

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


async def thumbnail_worker(js):
    # Both workers run this. Creating a durable that already exists with the same config
    # changes nothing, so it does not matter which worker gets here first.
    await js.add_consumer(
        "EVENTS",
        ConsumerConfig(
            durable_name="thumbnailer",
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            max_ack_pending=20,  # at most 20 in flight, across ALL workers together
            ack_wait=2,  # seconds: a crashed worker's messages go to another after 2 s
        ),
    )
    # Bind to THE durable: every worker shares its cursor, so each message goes to one worker.
    sub = await js.pull_subscribe_bind(durable="thumbnailer", stream="EVENTS")
    done = []
    try:
        while True:
            try:
                msgs = await sub.fetch(10, timeout=1)
            except TimeoutError:  # also catches nats.errors.TimeoutError, a subclass
                break  # nothing more for this worker: the consumer is empty
            for msg in msgs:
                # ... make the thumbnail ...
                await msg.ack()
                done.append(msg.metadata.sequence.stream)
    finally:
        await sub.unsubscribe()
    return done
