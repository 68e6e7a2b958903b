"""The JetStream API requests the board makes, each one counted in :attr:`Api.calls`.

Plain request/reply on ``$JS.API.*`` with the client the learner passed (nats-py's public
``request``), so a lesson can show what watching costs: stream info (with the deleted
sequences), the consumer list, one consumer's info, and message gets for the drawn window.
A request that fails because the server is away raises :class:`~fanout_kit.errors.ConnectError`
("server unreachable"), whatever nats-py raised.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats.errors
from nats.aio.client import Client

from .acks import parse_time_ns
from .errors import ConnectError, FanoutKitError

__all__ = ["NO_LEADER_CODES", "Api", "ApiError", "unreachable"]

TIMEOUT = 2.0
GET_CONCURRENCY = 32
"""Message gets in flight at once (a window is at most a few hundred)."""
NO_MESSAGE = 10037
STREAM_NOT_FOUND = 10059
NO_LEADER_CODES = frozenset({10008, 10118})
"""JetStream "temporarily unavailable" and "stream is offline": a clustered stream with no
leader may answer these instead of not answering at all."""


class ApiError(FanoutKitError):
    """The server answered a JetStream API request with an error."""

    def __init__(self, subject: str, error: dict[str, Any]) -> None:
        self.err_code = int(error.get("err_code", 0))
        self.description = str(error.get("description", "error"))
        super().__init__(f"{subject}: {self.description} (error {self.err_code})")


def unreachable(nc: Client, why: object = None) -> ConnectError:
    """The kit's error for a board whose server is away (or whose client was closed)."""
    if nc.is_closed:
        return ConnectError(
            "The board's client is closed, so the server is unreachable through it. "
            "Fix: connect again and watch with the new client "
            "(`board = await Board.watch(nc, ...)`)."
        )
    detail = f" ({why})" if why else ""
    return ConnectError(
        "The NATS server is unreachable: the board's client lost its connection and is "
        f"reconnecting{detail}. Wait until the board says 'connected' again, then settle."
    )


class Api:
    """JetStream API requests for one stream, counted."""

    def __init__(self, nc: Client, stream: str) -> None:
        self.nc, self.stream = nc, stream
        self.calls = 0
        self._gets = asyncio.Semaphore(GET_CONCURRENCY)

    async def request(
        self, subject: str, payload: dict[str, Any] | None = None, *, timeout: float = TIMEOUT
    ) -> dict[str, Any]:
        """One API request; the server's error becomes :class:`ApiError`."""
        if not self.nc.is_connected:
            raise unreachable(self.nc)
        self.calls += 1
        body = json.dumps(payload).encode() if payload is not None else b""
        try:
            reply = await self.nc.request(subject, body, timeout=timeout)
        except (nats.errors.Error, TimeoutError) as exc:
            if not self.nc.is_connected:
                raise unreachable(self.nc, type(exc).__name__) from None
            raise
        doc: dict[str, Any] = json.loads(reply.data)
        if "error" in doc:
            raise ApiError(subject, doc["error"])
        return doc

    async def stream_info(
        self, *, deleted_details: bool, timeout: float = TIMEOUT
    ) -> dict[str, Any]:
        body = {"deleted_details": True} if deleted_details else None
        return await self.request(f"$JS.API.STREAM.INFO.{self.stream}", body, timeout=timeout)

    async def consumers(self) -> list[dict[str, Any]]:
        """Every consumer's info (pages of the consumer list: one call per 256)."""
        infos: list[dict[str, Any]] = []
        while True:
            page = await self.request(
                f"$JS.API.CONSUMER.LIST.{self.stream}", {"offset": len(infos)}
            )
            got = page.get("consumers") or []
            infos += got
            if not got or len(infos) >= int(page.get("total", 0)):
                return infos

    async def consumer(self, name: str) -> dict[str, Any]:
        return await self.request(f"$JS.API.CONSUMER.INFO.{self.stream}.{name}")

    async def message(self, seq: int) -> tuple[str | None, int | None]:
        """A stored message's (subject, stored time in ns); ``(None, None)`` if the server
        says "no message found" (removed, or never stored)."""
        async with self._gets:
            try:
                doc = await self.request(f"$JS.API.STREAM.MSG.GET.{self.stream}", {"seq": seq})
            except ApiError as exc:
                if exc.err_code == NO_MESSAGE:
                    return None, None
                raise
        msg = doc.get("message") or {}
        try:
            when = parse_time_ns(str(msg.get("time", "")))
        except ValueError:
            when = None
        return str(msg.get("subject", "")), when

    async def stream_names(self) -> list[str]:
        doc = await self.request("$JS.API.STREAM.NAMES", {"offset": 0})
        return sorted(doc.get("streams") or [])
