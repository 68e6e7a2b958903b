"""Solution: lesson 06, exercise "invoices kept for billing and audit"."""

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType


async def setup_invoices(js):
    await js.add_stream(
        name="INVOICES",
        subjects=["invoices.>"],
        retention=RetentionPolicy.INTEREST,  # removed once every interested consumer has acked
        storage=StorageType.FILE,
        max_age=30
        * 24
        * 3600,  # limits still apply: don't let a dead service hold invoices forever
    )
    # Consumers first: an interest stream drops a message nobody is interested in yet.
    for name in ["billing", "audit"]:
        await js.add_consumer(
            "INVOICES",
            ConsumerConfig(
                durable_name=name,
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
            ),
        )
    await js.publish("invoices.created", b'{"invoice": "INV-1001", "total": 99.5}')
