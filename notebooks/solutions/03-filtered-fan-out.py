"""Solution: lesson 03, exercise "fraud-watch"."""

from nats.js.api import ConsumerConfig


async def make_fraud_watch(js):
    # Two exact subjects need filter_subjects (a list); filter_subject holds only one.
    return await js.add_consumer(
        "EVENTS",
        ConsumerConfig(
            durable_name="fraud-watch",
            filter_subjects=["events.payment.failed", "events.auth.login"],
        ),
    )
