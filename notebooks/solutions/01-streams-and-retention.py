"""Solution: lesson 01, exercise "a stream that refuses new messages when full"."""

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType


async def create_bounded_stream(js):
    return await js.add_stream(
        name="BOUNDED",
        subjects=["bounded.>"],
        retention=RetentionPolicy.LIMITS,
        max_msgs=100,
        discard=DiscardPolicy.NEW,
        storage=StorageType.FILE,
    )
