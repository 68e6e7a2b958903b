"""fanout_kit.connect: NATS_URL, the kernel server, credentials, and failing fast."""

from __future__ import annotations

import asyncio
import socket

import pytest

import fanout_kit
from fanout_kit.connect import resolve_url
from fanout_kit.errors import ConnectError


async def test_nats_url_is_used_when_set(server, monkeypatch) -> None:
    monkeypatch.setenv("NATS_URL", server.url)
    nc = await fanout_kit.connect()
    try:
        assert nc.connected_url.port == int(server.url.rsplit(":", 1)[1])
        assert (await nc.jetstream().account_info()).limits.max_streams == -1
    finally:
        await nc.close()


async def test_without_nats_url_a_private_kernel_server_starts_once(monkeypatch) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)
    first = await fanout_kit.kernel_server()
    assert await resolve_url() == first.url
    nc = await fanout_kit.connect()
    try:
        assert nc.is_connected
        assert await fanout_kit.kernel_server() is first
    finally:
        await nc.close()


async def test_unreachable_url_names_the_url_and_what_to_try(capfd) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"nats://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(ConnectError) as info:
        await fanout_kit.connect(url)
    message = str(info.value)
    assert url in message and "Check the URL and that a server is running there" in message
    assert "unset NATS_URL" not in message, "advice about NATS_URL when it was not used"
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


async def test_unreachable_nats_url_blames_nats_url(monkeypatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:1")
    with pytest.raises(
        ConnectError,
        match="It came from NATS_URL: check the server is running there, or unset NATS_URL",
    ):
        await fanout_kit.connect()


async def test_a_port_that_never_speaks_nats_gives_up_at_the_deadline(capfd) -> None:
    async def silent(reader, writer):  # accepts TCP, never sends INFO
        await reader.read()
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ConnectError, match="no NATS handshake within 0.3 s"):
            await fanout_kit.connect(f"nats://127.0.0.1:{port}", timeout=0.3)
    finally:
        listener.close()
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


async def test_credentials_from_the_environment(monkeypatch) -> None:
    async with await fanout_kit.start_server(
        extra_args=["--user", "ada", "--pass", "s3cret"]
    ) as srv:
        monkeypatch.setenv("NATS_URL", srv.url)
        monkeypatch.setenv("NATS_USER", "ada")
        monkeypatch.setenv("NATS_PASSWORD", "s3cret")
        nc = await fanout_kit.connect()
        assert nc.is_connected
        await nc.close()
        monkeypatch.setenv("NATS_PASSWORD", "wrong")
        with pytest.raises(ConnectError, match="refused the credentials.*Authorization Violation"):
            await fanout_kit.connect(timeout=60)  # refused at once, not after the timeout


async def test_missing_creds_file(monkeypatch, server) -> None:
    monkeypatch.setenv("NATS_CREDS", "/nonexistent.creds")
    with pytest.raises(ConnectError, match="NATS_CREDS=/nonexistent.creds is not a file"):
        await fanout_kit.connect(server.url)


async def test_bad_timeout(server) -> None:
    with pytest.raises(ValueError, match="timeout"):
        await fanout_kit.connect(server.url, timeout=0)
