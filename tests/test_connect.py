"""fanout_kit.connect: NATS_URL, the kernel server, credentials, and failing fast."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import struct

import nats
import pytest
from nats.js.api import ConsumerConfig

import fanout_kit
from fanout_kit.connect import client_of, resolve_url
from fanout_kit.errors import (
    ConnectError,
    FanoutKitError,
    KitTypeError,
    KitValueError,
    ServerStartError,
)

from .conftest import async_wait_until


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


async def test_a_refused_connection_says_refused_not_a_deadline() -> None:
    with socket.socket() as s:  # bound, not listening: the OS refuses at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        for host in ("127.0.0.1", "localhost"):  # localhost: asyncio folds ::1 and 127.0.0.1
            with pytest.raises(ConnectError) as info:
                await fanout_kit.connect(f"nats://{host}:{port}", timeout=5)
            message = str(info.value)
            assert "(connection refused)" in message, message
            assert "within" not in message, "a refusal is not a deadline"


def test_refusals_folded_by_asyncio_are_refusals() -> None:
    from fanout_kit.connect import is_connection_refused

    refused, unroutable = errno.ECONNREFUSED, errno.EHOSTUNREACH
    folded = OSError(
        f"Multiple exceptions: [Errno {refused}] Connect call failed ('::1', 1, 0, 0), "
        f"[Errno {refused}] Connect call failed ('127.0.0.1', 1)"
    )
    folded_mixed = OSError(
        f"Multiple exceptions: [Errno {refused}] Connect call failed ('::1', 1, 0, 0), "
        f"[Errno {unroutable}] Connect call failed ('10.0.0.1', 1)"
    )
    assert is_connection_refused(ConnectionRefusedError(refused, "Connection refused"))
    assert is_connection_refused(folded)
    assert not is_connection_refused(folded_mixed)
    assert not is_connection_refused(OSError(unroutable, "No route to host"))


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


# --------------------------------------------------------------------- secrets


async def test_credentials_in_a_url_never_appear_in_messages_or_logs(caplog, capfd) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"nats://alice:TOPSECRET@127.0.0.1:{port}"
    caplog.set_level(logging.DEBUG, logger="fanout_kit")
    with pytest.raises(ConnectError) as info:
        await fanout_kit.connect(url)
    message = str(info.value)
    assert f"nats://***@127.0.0.1:{port}" in message
    assert "TOPSECRET" not in message and "alice" not in message
    assert "TOPSECRET" not in caplog.text
    out, err = capfd.readouterr()
    assert "TOPSECRET" not in out + err


async def test_a_wrong_password_in_the_url_is_refused_without_showing_it(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="fanout_kit")
    async with await fanout_kit.start_server(
        extra_args=["--user", "ada", "--pass", "s3cret"]
    ) as srv:
        url = srv.url.replace("nats://", "nats://ada:TOPSECRET@")
        with pytest.raises(ConnectError, match="refused the credentials") as info:
            await fanout_kit.connect(url, timeout=60)
        assert "TOPSECRET" not in str(info.value)
        assert "nats://***@127.0.0.1:" in str(info.value)
        nc = await fanout_kit.connect(srv.url.replace("nats://", "nats://ada:s3cret@"))
        await nc.close()
    assert "TOPSECRET" not in caplog.text and "s3cret" not in caplog.text


async def test_a_password_in_extra_args_stays_out_of_reprs_and_errors() -> None:
    async with await fanout_kit.start_server(
        extra_args=["--user", "ada", "--pass", "s3cret"]
    ) as srv:
        assert "s3cret" not in repr(srv)
    with pytest.raises(ServerStartError) as info:
        await fanout_kit.start_server(extra_args=["--pass=s3cret", "--bogus"])
    assert "s3cret" not in str(info.value) and "--pass=***" in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["nats//127.0.0.1:4222", "nats:/127.0.0.1:4222", "http://127.0.0.1:4222", "nats://:4222"],
)
async def test_a_url_that_is_not_a_nats_url_is_called_that(url: str) -> None:
    with pytest.raises(KitValueError) as info:
        await fanout_kit.connect(url)
    message = str(info.value)
    assert info.value.param == "url"
    assert "is not a NATS URL" in message and "TCP" not in message
    if url in ("nats//127.0.0.1:4222", "nats:/127.0.0.1:4222"):
        assert "did you mean 'nats://127.0.0.1:4222'?" in message


@pytest.mark.parametrize("port", ["notaport", "99999", "0"])
async def test_a_port_that_is_not_a_port(port: str) -> None:
    with pytest.raises(KitValueError, match=f"url='nats://127.0.0.1:{port}' is not a NATS URL"):
        await fanout_kit.connect(f"nats://127.0.0.1:{port}")


async def test_a_bad_nats_url_blames_nats_url(monkeypatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats//u:pw@x")
    with pytest.raises(KitValueError) as info:
        await fanout_kit.connect()
    assert info.value.param == "NATS_URL"
    assert "NATS_URL='***@x'" in str(info.value) and "pw" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"url": 123}, TypeError, ["url=123 is a int"]),
        ({"timeout": "2"}, TypeError, ["timeout='2' is a str"]),
        ({"timeout": float("nan")}, ValueError, ["timeout=nan"]),
        ({"name": 5}, TypeError, ["name=5 is a int"]),
    ],
)
async def test_wrong_types_are_named(server, kwargs, error, words) -> None:
    kwargs = {"url": server.url, **kwargs}
    with pytest.raises(error) as info:
        await fanout_kit.connect(**kwargs)
    assert isinstance(info.value, FanoutKitError)
    for word in [*words, "Fix"]:
        assert word in str(info.value)


# --------------------------------------------------------------------- staying connected


async def test_the_client_keeps_reconnecting_until_the_server_returns(tmp_path) -> None:
    """nats-py alone gives up after 60 attempts and closes the client for good; the kit's client
    keeps trying (here 150 quick attempts) and is back once the server is."""
    server = await fanout_kit.start_server(store_dir=tmp_path / "store")
    refused: list[Exception] = []

    async def count(exc: Exception) -> None:
        if isinstance(exc, OSError):
            refused.append(exc)

    nc = await fanout_kit.connect(server.url, error_cb=count, reconnect_time_wait=0.01)
    try:
        await nc.jetstream().add_stream(name="KEPT", subjects=["kept.>"])
        await server.stop()
        await async_wait_until(lambda: len(refused) > 150, 60, "150 refused reconnect attempts")
        assert nc.is_reconnecting and not nc.is_closed
        await server.restart()
        await async_wait_until(lambda: nc.is_connected, 30, "the client to reconnect")
        ack = await nc.jetstream().publish("kept.after", b"back")
        assert ack.stream == "KEPT"
    finally:
        await nc.close()
        await server.stop()


async def test_a_reset_after_the_refusal_still_reports_the_refusal() -> None:
    """A busy nats-server closes a refused connection with the client's PING unread, so the
    client sees its -ERR and then a connection reset. The kit reports the server's words, not
    the reset that came after them (what made test_credentials_from_the_environment flaky)."""
    info = b'INFO {"server_id":"x","version":"2.15.1","auth_required":true,"proto":1}\r\n'

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(info)
        await writer.drain()
        await reader.readline()  # CONNECT
        writer.write(b"-ERR 'Authorization Violation'\r\n")
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # closes with a reset, as the real server did under load

    listener = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ConnectError) as err:
            await fanout_kit.connect(f"nats://ada:pw@127.0.0.1:{port}", timeout=30)
    finally:
        listener.close()
    assert "refused the credentials (nats: 'Authorization Violation')" in str(err.value)


async def test_the_jetstream_of_a_kit_client_knows_its_client(server) -> None:
    """Checks flush and watch acks on the learner's own connection: js.client, no private
    attribute of nats-py."""
    nc = await fanout_kit.connect(server.url)
    try:
        js = nc.jetstream(timeout=3)
        assert js.client is nc and client_of(js) is nc
        assert (await js.account_info()).limits.max_streams == -1  # still nats-py's context
    finally:
        await nc.close()


async def test_a_jetstream_of_another_client_is_refused_before_anything_is_sent(server) -> None:
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        with pytest.raises(KitTypeError, match="nc = await fanout_kit.connect") as exc:
            client_of(js)
        assert exc.value.param == "js"
        await js.add_stream(name="OTHER_CLIENT", subjects=["other.>"])
        await js.publish("other.a", b"x")
        await js.add_consumer("OTHER_CLIENT", ConsumerConfig(durable_name="c"))
        with pytest.raises(KitTypeError):
            await fanout_kit.drain(js, "OTHER_CLIENT", "c")
        assert (await js.consumer_info("OTHER_CLIENT", "c")).num_pending == 1  # nothing taken
        assert (await fanout_kit.drain(js, "OTHER_CLIENT", "c", ack=False)).count == 1
    finally:
        await nc.jetstream().delete_stream("OTHER_CLIENT")
        await nc.close()
