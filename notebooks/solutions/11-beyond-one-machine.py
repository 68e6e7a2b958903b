"""Solution for lesson 11, beyond one machine: the exercise's replicated stream and durable."""

from nats.js.api import ConsumerConfig, StorageType, StreamConfig


async def make_orders_r3(js):
    """ORDERS_R3 on orders.> with three replicas on disk, and the durable order-processor.

    The consumer's num_replicas is left out: 0 means "as many as the stream", so its cursor
    is on the same three nodes as the messages.
    """
    await js.add_stream(
        StreamConfig(
            name="ORDERS_R3",
            subjects=["orders.>"],
            num_replicas=3,
            storage=StorageType.FILE,
        )
    )
    await js.add_consumer("ORDERS_R3", ConsumerConfig(durable_name="order-processor"))
