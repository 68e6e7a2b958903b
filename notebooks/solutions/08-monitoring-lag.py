"""Solution: lesson 08, exercise "lag from the messages you already have"."""


def lag_from_messages(msgs):
    # Every delivered message carries num_pending: how many messages matching the consumer
    # were still undelivered right after it was handed out. The newest message (fetch returns
    # them in delivery order) has the latest figure, as of its delivery. No request to the server.
    return msgs[-1].metadata.num_pending
