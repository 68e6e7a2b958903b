"""A JetStream cluster of kit servers on 127.0.0.1, for lessons and failover experiments.

``start_cluster(3)`` starts three ``nats-server`` nodes (``n1``, ``n2``, ``n3``) joined by routes,
waits until JetStream has a meta leader (the node that places streams and consumers; before it
exists every stream or consumer request times out) that can place a replica on every node, and
gives back a :class:`Cluster` that can
find a stream's leader, SIGKILL a node and bring it back.

No port is ever guessed. Every node picks its own client, monitoring and route ports (``-1``)
and the kit reads them back. Routes need a known port, so the nodes start one after the other:
``n1`` first, then each next node is given the route ports of those already running. A JetStream
cluster refuses to start without any configured route, so ``n1`` gets a placeholder route to
``127.0.0.1:0``: no process can listen on port 0, so nothing ever answers it, and ``n1`` learns the
other nodes when they connect to it. Once all run, every node's flags name every other node's
route port, so any node restarts into the cluster on its own.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Generator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError

from .connect import connect
from .errors import FanoutKitError
from .server import NatsServer, get_json, start_server
from .validate import bad_type, bad_value, check_int, check_path, check_seconds, check_str
from .waiting import WaitTimeout, wait_for

__all__ = ["Cluster", "ClusterNotReady", "ClusterStart", "start_cluster"]

READY_TIMEOUT = 30.0
MAX_NODES = 9
_PLACEHOLDER_ROUTE = "nats://127.0.0.1:0"  # port 0: a connection there is always refused
_PROBE_STREAM = "FANOUT_KIT_PLACEMENT_PROBE"
_NO_PEERS = 10005  # "no suitable peers for placement"
_OWNED_STORES: set[Path] = set()
T = TypeVar("T")


class ClusterNotReady(FanoutKitError, TimeoutError):
    """The cluster (or one stream in it) has no leader within the time given."""


async def _wait_or_explain(
    condition: Callable[[], Awaitable[T | None]],
    limit: float,
    seen: dict[str, str],
    explain: Callable[[str], str],
) -> T:
    """:func:`wait_for` ``condition``; on the deadline :class:`ClusterNotReady` with
    ``explain(said)``, ``said`` being what each node reported last (``seen``, filled in by
    ``condition``), or "" if none did."""
    try:
        return await wait_for(condition, limit, what="the cluster")
    except WaitTimeout:
        said = "; ".join(f"{k}: {v}" for k, v in sorted(seen.items()))
        raise ClusterNotReady(explain(said)) from None


@atexit.register
def _remove_stores_at_exit() -> None:
    for store in list(_OWNED_STORES):
        shutil.rmtree(store, ignore_errors=True)


def _node_flags(cluster_name: str, route_port: int | None, routes: list[str]) -> list[str]:
    listen = f"nats://127.0.0.1:{route_port if route_port is not None else -1}"
    return ["--cluster_name", cluster_name, "--cluster", listen, "--routes", ",".join(routes)]


def _route(port: int) -> str:
    return f"nats://127.0.0.1:{port}"


class Cluster:
    """A running kit cluster. Make one with :func:`start_cluster`.

    ``nodes`` maps each node name to its :class:`~fanout_kit.server.NatsServer` (``url``,
    ``monitoring_url``, ``pid``, ``running``, ``stop()``, ``restart()``); ``urls`` is every
    node's client URL, comma-separated, ready for ``fanout_kit.connect(cluster.urls)``.
    """

    def __init__(
        self, name: str, nodes: dict[str, NatsServer], store: Path, owns_store: bool
    ) -> None:
        self.name = name
        self.nodes = nodes
        self.store = store
        self._owns_store = owns_store

    @property
    def urls(self) -> str:
        """Every node's client URL, comma-separated (the client fails over between them)."""
        return ",".join(srv.url for srv in self.nodes.values())

    @property
    def running(self) -> list[str]:
        """Names of the nodes whose process is running."""
        return [name for name, srv in self.nodes.items() if srv.running]

    def node_of(self, client: Client) -> str | None:
        """The name of the node ``client`` is connected to (``None`` if it is not connected)."""
        url = client.connected_url
        if url is None:
            return None
        here = f"{url.scheme}://{url.hostname}:{url.port}"
        return next((name for name, srv in self.nodes.items() if srv.url == here), None)

    def _node(self, node: object) -> NatsServer:
        if not isinstance(node, str) or node not in self.nodes:
            fits = f"one of the node names {list(self.nodes)}"
            example = repr(next(iter(self.nodes), "n1"))
            if not isinstance(node, str):
                raise bad_type("node", node, fits, example)
            raise bad_value("node", node, fits, example, why="is not a node of this cluster")
        return self.nodes[node]

    async def _meta_view(self, seen: dict[str, str]) -> dict[str, Any] | None:
        """The meta group as its leader reports it, once every running node is current."""
        running = self.running
        for name in running:
            try:
                jsz = await get_json(self.nodes[name].monitoring_url + "/jsz")
            except (OSError, ValueError, TimeoutError) as exc:
                seen[name] = f"monitoring port not answering ({type(exc).__name__})"
                continue
            meta = jsz.get("meta_cluster") or {}
            leader = meta.get("leader") or "none"
            seen[name] = f"meta leader {leader}"
            if meta.get("leader") != name:
                continue
            peers = {p.get("name"): p for p in meta.get("replicas") or []}
            behind = [n for n in running if n != name and not peers.get(n, {}).get("current")]
            if behind:
                seen[name] = f"meta leader {name}, not yet current: {', '.join(behind)}"
                continue
            return dict(meta)
        return None

    async def wait_ready(self, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
        """Wait until a running node leads the JetStream meta group and all running nodes
        are current in it; return the leader's ``meta_cluster`` report (``leader``,
        ``cluster_size``, ``quorum_needed``, ``replicas``).

        Raises :class:`ClusterNotReady` (not a bare timeout) naming what each node saw.
        """
        limit = check_seconds(timeout, "timeout", "30")
        running = self.running
        quorum = len(self.nodes) // 2 + 1
        if len(running) < quorum:
            raise ClusterNotReady(
                f"Cluster {self.name} not ready: {len(running)} of {len(self.nodes)} nodes run "
                f"({', '.join(running) or 'none'}) and a meta leader needs {quorum}. "
                "Restart a stopped node first: await cluster.restart('<name>')."
            )
        seen: dict[str, str] = {}
        return await _wait_or_explain(
            lambda: self._meta_view(seen),
            limit,
            seen,
            lambda said: (
                f"Cluster {self.name} not ready: no meta leader with every running node current "
                f"after {limit:g} s (what the nodes said: {said or 'nothing'}). Until there is "
                "one, stream and consumer requests time out. Pass a larger timeout= on a busy "
                "machine."
            ),
        )

    async def leader(self, stream: str, *, timeout: float = 10.0) -> str:
        """The name of the node leading ``stream``, waiting up to ``timeout`` s for one.

        Raises :class:`ClusterNotReady` if no running node leads it by then (an election
        still running, a lost quorum, or no such stream).
        """
        check_str(stream, "stream", example="'EVENTS'")
        limit = check_seconds(timeout, "timeout", "10")
        seen: dict[str, str] = {}

        async def leading() -> str | None:
            for name in self.running:
                try:
                    jsz = await get_json(self.nodes[name].monitoring_url + "/jsz?streams=true")
                except (OSError, ValueError, TimeoutError):
                    seen[name] = "monitoring port not answering"
                    continue
                details = [
                    s
                    for account in jsz.get("account_details") or []
                    for s in account.get("stream_detail") or []
                    if s.get("name") == stream
                ]
                if not details:
                    seen[name] = "does not hold it"
                    continue
                said = (details[0].get("cluster") or {}).get("leader")
                seen[name] = f"leader {said or 'none'}"
                if said == name:
                    return name
            return None

        return await _wait_or_explain(
            leading,
            limit,
            seen,
            lambda said: (
                f"Stream {stream} has no leader on cluster {self.name} after {limit:g} s "
                f"({said or 'no node running'}). An election takes a few seconds; without a "
                "quorum of its replicas running there is none, and publishes to it fail."
            ),
        )

    async def _wait_placeable(self, limit: float) -> None:
        """Wait until the meta leader places a stream on every node, then return.

        The leader places a replica only on a node whose JetStream report (its statsz) it has
        received, and that report may come after the meta group is current: on a busy machine
        seconds later. Until then a stream with a replica per node is refused (10005, "no
        suitable peers for placement, peer offline"). Nothing outside shows that report, so
        this creates such a stream (in memory, no subjects a learner would use), retrying on
        that refusal, and deletes it again.
        """
        seen: dict[str, str] = {}
        client = await connect(self.urls, name="fanout-kit-cluster-probe")
        try:
            js = client.jetstream()
            probe = StreamConfig(
                name=_PROBE_STREAM,
                subjects=[f"_fanout_kit.{self.name}.probe"],
                num_replicas=len(self.nodes),
                storage=StorageType.MEMORY,
            )

            async def placed() -> bool | None:
                try:
                    await js.add_stream(probe)
                except BadRequestError as exc:
                    if exc.err_code != _NO_PEERS:
                        raise
                    seen["meta leader"] = str(exc.description)
                    return None
                except TimeoutError:  # the request went unanswered: the leader is busy
                    seen["meta leader"] = "no answer to a stream create"
                    return None
                return True

            await _wait_or_explain(
                placed,
                limit,
                seen,
                lambda said: (
                    f"Cluster {self.name} not ready: the meta leader could not place a stream "
                    f"with {len(self.nodes)} replicas after {limit:g} s ({said or 'no answer'}). "
                    "Pass a larger ready_timeout= on a busy machine."
                ),
            )
            await js.delete_stream(_PROBE_STREAM)
        finally:
            await client.close()

    def kill(self, node: str) -> None:
        """SIGKILL ``node`` (a power cut: no goodbye to the cluster) and reap it.

        Its store and ports are kept, so :meth:`restart` brings the same node back.
        """
        self._node(node).kill()

    async def restart(
        self, node: str, *, wait: bool = True, timeout: float = READY_TIMEOUT
    ) -> None:
        """Start ``node`` again (same ports, same store) after a kill or a stop.

        With ``wait`` (the default) it returns once the meta group has every running node
        current again (see :meth:`wait_ready`).
        """
        srv = self._node(node)
        limit = check_seconds(timeout, "timeout", "30")
        await srv.restart()
        if wait:
            await self.wait_ready(limit)

    async def close(self) -> None:
        """Stop every node and remove the store the kit made (one passed in is kept)."""
        await asyncio.gather(*(srv.stop() for srv in self.nodes.values()), return_exceptions=True)
        if self._owns_store:
            shutil.rmtree(self.store, ignore_errors=True)
            _OWNED_STORES.discard(self.store)

    async def __aenter__(self) -> Cluster:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        states = ", ".join(f"{n} {'up' if s.running else 'down'}" for n, s in self.nodes.items())
        return f"<Cluster {self.name}: {states}>"


async def _start(n: int, name: str, store_dir: str | Path | None, ready_timeout: float) -> Cluster:
    owns_store = store_dir is None
    if store_dir is None:
        store = Path(tempfile.mkdtemp(prefix="fanout-kit-cluster-"))
    else:
        store = Path(store_dir)
    if owns_store:
        _OWNED_STORES.add(store)
    nodes: dict[str, NatsServer] = {}
    cluster = Cluster(name, nodes, store, owns_store)
    try:
        ports: dict[str, int] = {}
        for i in range(1, n + 1):
            node = f"n{i}"
            routes = [_route(p) for p in ports.values()] or [_PLACEHOLDER_ROUTE]
            srv = await start_server(
                name=node,
                store_dir=store / node,
                extra_args=_node_flags(name, None, routes),
            )
            nodes[node] = srv
            varz = await get_json(srv.monitoring_url + "/varz")
            ports[node] = int(varz["cluster"]["cluster_port"])
        # Pin every node's route port and name every other node, so a restart (which reuses
        # the node's flags) comes back on the same port and finds the cluster by itself.
        for node, srv in nodes.items():
            others = [_route(p) for other, p in ports.items() if other != node]
            srv.extra_args = tuple(_node_flags(name, ports[node], others))
        await cluster.wait_ready(ready_timeout)
        await cluster._wait_placeable(ready_timeout)
    except BaseException:
        await asyncio.shield(cluster.close())
        raise
    return cluster


class ClusterStart:
    """What :func:`start_cluster` returns: ``await`` it, or use it with ``async with``."""

    def __init__(self, n: int, name: str, store_dir: str | Path | None, timeout: float) -> None:
        self._args = (n, name, store_dir, timeout)
        self._cluster: Cluster | None = None

    def __await__(self) -> Generator[Any, None, Cluster]:
        return _start(*self._args).__await__()

    async def __aenter__(self) -> Cluster:
        self._cluster = await _start(*self._args)
        return self._cluster

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._cluster is not None:
            await self._cluster.close()


def start_cluster(
    n: int = 3,
    *,
    name: str = "fanout-kit",
    store_dir: str | Path | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> ClusterStart:
    """Start an ``n``-node JetStream cluster on 127.0.0.1 and wait until its meta leader can
    place a stream with ``n`` replicas.

    ``cluster = await start_cluster(3)`` (stop it with ``await cluster.close()``) or
    ``async with start_cluster(3) as cluster: ...``. Nodes are named ``n1``..``n<n>``.
    ``store_dir``: a folder for the nodes' stores (one subfolder each), kept afterwards; left
    out, a temporary one is made and removed by ``close()``. ``name``: the cluster name.

    Raises :class:`ClusterNotReady` if that takes longer than ``ready_timeout`` seconds;
    whatever had started is stopped first, so no server is left behind.
    """
    check_int(n, "n", low=2, high=MAX_NODES, example="3 (an odd number: 3 or 5)")
    check_str(name, "name", example="'fanout-kit'")
    if any(c in name for c in " .*>\t/"):
        raise bad_value("name", name, "letters, digits, '-' and '_' only", "'fanout-kit'")
    if store_dir is not None:
        check_path(store_dir, "store_dir", example="'cluster-store' (or None)")
    timeout = check_seconds(ready_timeout, "ready_timeout", "30")
    return ClusterStart(n, name, store_dir, timeout)
