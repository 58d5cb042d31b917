"""docker/: what can be checked without a Docker engine.

The Dockerfile lints clean, the compose file and the env file name only real settings, and
the image's health check works against a live gateway.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ibmq_gateway.server.core.settings import ENV_PREFIX, Settings, _read_environ
from ibmq_gateway.server.executors.local.catalog import DEFAULT_FAKE_DEVICES
from ibmq_gateway.server.ops.embedded import EmbeddedGateway

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
TOOLS = Path(sys.executable).parent
HEALTHCHECK = ["ibmq-gateway-healthcheck"]


def _run(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, env=env)


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (DOCKER / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (keyword.upper(), rest.strip())
        for keyword, _, rest in (line.partition(" ") for line in lines)
        if keyword and not keyword.startswith("#")
    ]


def _image_environment() -> dict[str, str]:
    pairs = [
        pair.partition("=")
        for keyword, rest in _instructions()
        if keyword == "ENV"
        for pair in shlex.split(rest)
    ]
    return {name: value for name, _, value in pairs}


def _example() -> dict[str, tuple[str, bool]]:
    """gateway.env.example's variables: name -> (value, whether set or only commented)."""
    found = {}
    for line in (DOCKER / "gateway.env.example").read_text().splitlines():
        match = re.fullmatch(r"(#\s*)?(IBMQ_GATEWAY_\w+)=(.*)", line)
        if match:
            found[match[2]] = (match[3], match[1] is None)
    return found


def test_dockerfile_lints_clean() -> None:
    config = DOCKER / ".hadolint.yaml"
    options = ["--config", str(config)] if config.exists() else []
    command = [str(TOOLS / "hadolint"), *options, "--failure-threshold", "style"]
    outcome = _run(*command, "docker/Dockerfile")
    assert (outcome.returncode, outcome.stdout + outcome.stderr) == (0, "")


def test_image_runs_the_tested_healthcheck() -> None:
    instructions = _instructions()
    assert ("HEALTHCHECK", json.dumps(HEALTHCHECK)) in [
        (keyword, rest.rpartition("CMD ")[2]) for keyword, rest in instructions
    ]
    assert ("COPY", "--chmod=0755 docker/healthcheck.py /usr/local/bin/" + HEALTHCHECK[0]) in (
        instructions
    )


def test_environment_variables_are_real_settings() -> None:
    names = {ENV_PREFIX + field.name.upper() for field in dataclasses.fields(Settings)}
    read = {ENV_PREFIX + name.upper() for name in _read_environ(dict.fromkeys(names, ""))}
    image = {k: v for k, v in _image_environment().items() if k.startswith(ENV_PREFIX)}
    example = _example()
    documented = {name: value for name, (value, _) in example.items()}
    assert set(image) <= read
    assert {name for name, (_, is_set) in example.items() if is_set} <= read
    # Every variable the gateway reads is documented, with the image's value or the default.
    assert set(documented) == read
    assert {name: documented[name] for name in image} == image
    # An empty value documents a setting that is unset by default.
    loaded = Settings.load(environ={k: v for k, v in documented.items() if k in read and v})
    expected = Settings(
        address=image["IBMQ_GATEWAY_ADDRESS"],
        state_dir=Path(image["IBMQ_GATEWAY_STATE_DIR"]),
        fake_devices=DEFAULT_FAKE_DEVICES,
        metrics_address=image["IBMQ_GATEWAY_METRICS_ADDRESS"],
    )
    assert loaded == expected


def _yaml_as_json(text: str) -> Any:
    """Parses YAML (PyYAML comes with the dev extra)."""
    return yaml.safe_load(text)


def test_compose_runs_the_gateway_with_health_and_state() -> None:
    compose = _yaml_as_json((DOCKER / "compose.yaml").read_text())
    gateway = compose["services"]["gateway"]
    assert gateway["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert gateway["healthcheck"]["test"] == ["CMD", *HEALTHCHECK]
    assert "gateway-state:/var/lib/ibmq-gateway" in gateway["volumes"]
    assert "gateway-state" in compose["volumes"]
    assert gateway["env_file"] == [{"path": "gateway.env", "required": False}]
    assert gateway["restart"] == "unless-stopped"
    assert any(port.endswith(":50051:50051") for port in gateway["ports"])
    # PostgreSQL is an option (IBMQ_GATEWAY_DATABASE): it starts only with a profile.
    assert compose["services"]["postgres"]["profiles"] == ["postgres", "replicas"]


def test_compose_profiles_add_a_replica_and_a_dask_cluster() -> None:
    services = _yaml_as_json((DOCKER / "compose.yaml").read_text())["services"]
    first, second = services["gateway"], services["gateway-2"]
    assert second["profiles"] == ["replicas"]
    assert second["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    # The same image, settings and health as the first; a port and a state of its own.
    for key in ("image", "env_file", "healthcheck", "restart"):
        assert second[key] == first[key]
    assert second["ports"] != first["ports"]
    assert second["volumes"] == ["gateway-2-state:/var/lib/ibmq-gateway"]
    scheduler, worker = services["dask-scheduler"], services["dask-worker"]
    assert scheduler["profiles"] == worker["profiles"] == ["dask"]
    assert scheduler["image"] == worker["image"] == first["image"]
    assert scheduler["entrypoint"] == ["dask", "scheduler"]
    assert "8786" in scheduler["command"]
    assert worker["command"][0] == "tcp://dask-scheduler:8786"
    # The image the workers run has Dask: the dask extra is installed beside the server's.
    install = [rest for keyword, rest in _instructions() if keyword == "RUN" and ".whl" in rest]
    assert install and "[server,postgres,dask]" in install[0]


def test_docker_compose_accepts_the_file() -> None:
    if _run("docker", "compose", "version").returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    for profile in ([], *(["--profile", name] for name in ("postgres", "replicas", "dask"))):
        outcome = _run("docker", "compose", "-f", "docker/compose.yaml", *profile, "config", "-q")
        assert outcome.returncode == 0, outcome.stderr


def test_healthcheck_reports_a_live_gateway(gateway: EmbeddedGateway) -> None:
    script = str(DOCKER / "healthcheck.py")
    # As in the image: the port of IBMQ_GATEWAY_ADDRESS, its wildcard host read as loopback.
    port = gateway.address.rpartition(":")[2]
    environ = {**os.environ, "IBMQ_GATEWAY_ADDRESS": f"0.0.0.0:{port}"}
    serving = _run(sys.executable, script, env=environ)
    assert serving.returncode == 0, serving.stderr
    assert serving.stdout == f"127.0.0.1:{port}: SERVING\n"
    address = gateway.address
    gateway.stop()
    stopped = _run(sys.executable, script, address)
    assert stopped.returncode == 1
    assert "UNAVAILABLE" in stopped.stderr
