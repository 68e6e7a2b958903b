"""A clustered stream's leader, as the board learns it: nothing announces a leader's death.

When the node leading a replicated stream dies (a SIGKILL, a power cut), no advisory says so:
the other replicas notice the missing heartbeats and elect a new leader, which takes a few
seconds, and meanwhile the stream's info gets no answer at all and publishes fail (verified on
nats-server 2.15.1; the consumer list, answered by the meta leader, still works). So for a
clustered stream the feed asks for stream info once a second (counted in ``api.calls``); no
answer while connected means "no leader" (:func:`~fanout_kit.reconcile.mark_leaderless`),
an answer brings the new leader and each replica's state
(:func:`~fanout_kit.reconcile.apply_cluster`).
"""

from __future__ import annotations

from . import reconcile
from .jsapi import NO_LEADER_CODES, Api, ApiError
from .observe import StreamModel

__all__ = ["EVERY", "TIMEOUT", "LeaderCheck", "passing"]

EVERY = 1.0
"""Seconds between leader checks of a clustered stream (one stream info each)."""
TIMEOUT = 1.0
"""Seconds a leader check waits for stream info before saying "no leader"."""


def passing(exc: BaseException, connected: bool) -> bool:
    """No answer, or JetStream "unavailable", while connected: an election, likely to pass
    (asking again may work)."""
    silent = isinstance(exc, TimeoutError)  # nats-py's TimeoutError is one too
    refused = isinstance(exc, ApiError) and exc.err_code in NO_LEADER_CODES
    return (silent or refused) and connected


class LeaderCheck:
    """The once-a-second leader check of one stream's feed."""

    def __init__(self, api: Api, model: StreamModel) -> None:
        self.api, self.model = api, model
        self.running = False

    def due(self, ticks: int, tick: float) -> bool:
        """Whether the feed's tick number ``ticks`` should start a check."""
        every = max(1, round(EVERY / tick))
        return self.model.cluster is not None and ticks % every == 0 and not self.running

    def stream_info_failed(self, exc: BaseException) -> None:
        """Stream info failed: for a clustered stream, no answer while connected means it
        has no leader."""
        if passing(exc, self.api.nc.is_connected):
            reconcile.mark_leaderless(self.model)

    async def check(self) -> None:
        """Does the stream have a leader, and how current are its replicas?"""
        self.running = True
        try:
            info = await self.api.stream_info(deleted_details=False, timeout=TIMEOUT)
        except Exception as exc:
            self.stream_info_failed(exc)
            raise
        finally:
            self.running = False
        reconcile.apply_cluster(self.model, info)
