"""start_cluster: a real 3-node loopback cluster, leaders, SIGKILL and restart, no orphans."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from nats.js.api import StreamConfig

import fanout_kit
from fanout_kit import BadArgument
from fanout_kit.cluster import ClusterNotReady, start_cluster
from fanout_kit.server import listening_addresses, loopback_only


def _nats_servers_of(cluster_name: str) -> list[int]:
    """Pids of live nats-server processes started with ``--cluster_name cluster_name``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"--cluster_name" in args and cluster_name.encode() in args and state != "Z":
            found.append(int(entry.name))
    return found


def _reaped(pid: int) -> bool:
    """True when ``pid`` is neither running nor a zombie waiting for its parent."""
    return not Path(f"/proc/{pid}").exists()


async def test_three_nodes_ready_for_an_r3_stream_kill_and_restart() -> None:
    async with start_cluster(3, name="fk-test-main") as cluster:
        assert list(cluster.nodes) == ["n1", "n2", "n3"]
        assert cluster.urls.count(",") == 2
        for srv in cluster.nodes.values():
            assert loopback_only(listening_addresses(srv.pid)), srv.name
        meta = await cluster.wait_ready()
        assert meta["cluster_size"] == 3 and meta["leader"] in cluster.nodes

        nc = await fanout_kit.connect(cluster.urls)
        try:
            js = nc.jetstream()
            # No retry loop: start_cluster waited for the meta leader, so this just works.
            await js.add_stream(StreamConfig(name="R3", subjects=["r3.>"], num_replicas=3))
            assert cluster.node_of(nc) in cluster.nodes
            leader = await cluster.leader("R3")
            assert leader in cluster.nodes
            await js.publish("r3.a", b"before")

            pid = cluster.nodes[leader].pid
            cluster.kill(leader)
            assert _reaped(pid), "the killed node is still a process (zombie?)"
            assert leader not in cluster.running
            await cluster.wait_ready()
            successor = await cluster.leader("R3", timeout=30)
            assert successor != leader and successor in cluster.running

            await cluster.restart(leader)
            assert cluster.nodes[leader].running
            assert sorted(cluster.running) == ["n1", "n2", "n3"]
            assert (await js.stream_info("R3")).state.messages == 1  # the acked publish
        finally:
            await nc.close()
    assert not cluster.running
    assert not cluster.store.exists()
    assert _nats_servers_of("fk-test-main") == []


async def test_without_a_quorum_wait_ready_says_so_at_once() -> None:
    async with start_cluster(3, name="fk-test-quorum") as cluster:
        await cluster.nodes["n2"].stop()
        await cluster.nodes["n3"].stop()
        with pytest.raises(ClusterNotReady, match="1 of 3 nodes run .* needs 2"):
            await cluster.wait_ready(timeout=30)
        with pytest.raises(ClusterNotReady, match="Stream NOPE has no leader"):
            await cluster.leader("NOPE", timeout=0.2)
        await cluster.restart("n3")
        assert (await cluster.wait_ready())["leader"] in ("n1", "n3")


async def test_not_ready_in_time_raises_a_kit_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the stores and run folders
    with pytest.raises(ClusterNotReady, match="no meta leader") as caught:
        await start_cluster(3, name="fk-test-notready", ready_timeout=0.001)
    assert isinstance(caught.value, TimeoutError)
    assert _nats_servers_of("fk-test-notready") == []
    assert list(tmp_path.glob("fanout-kit-cluster-*")) == []  # its store folder is gone
    assert list(tmp_path.glob("fanout-kit-*/*")) == []  # and every node's run folder


async def test_kept_store_dir_survives_close(tmp_path: Path) -> None:
    cluster = await start_cluster(2, name="fk-test-store", store_dir=tmp_path / "c")
    await cluster.close()
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["n1", "n2"]
    assert _nats_servers_of("fk-test-store") == []


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"n": 1}, "n"),
        ({"n": "3"}, "n"),
        ({"n": 99}, "n"),
        ({"name": "my cluster"}, "name"),
        ({"name": ""}, "name"),
        ({"ready_timeout": 0}, "ready_timeout"),
        ({"store_dir": 5}, "store_dir"),
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(
    kwargs: dict[str, object], parameter: str
) -> None:
    with pytest.raises(BadArgument) as caught:
        start_cluster(**kwargs)
    assert caught.value.param == parameter
