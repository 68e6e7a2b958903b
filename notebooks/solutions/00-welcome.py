"""Solution: lesson 00, exercise "three stored messages"."""


async def publish_three(js):
    return [
        await js.publish("welcome.a", b"a"),
        await js.publish("welcome.b", b"b"),
        await js.publish("welcome.c", b"c"),
    ]
