"""A client-only install, as a Qiskit user on a laptop has it: ``pip install ibmq-gateway``.

The venv gets the project without extras, so none of the server's packages; its
``ibmq-gateway`` command must still list every command, run the client's against a live
gateway, and say in one line which extra ``serve`` needs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from tests.conftest import TEST_TOKEN

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "protos", "server", "client")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def client_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The ``bin`` folder of a venv holding the project installed without extras."""
    work = tmp_path_factory.mktemp("client-only")
    source = work / "source"  # a copy, so that the build leaves nothing in the checkout
    source.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True, timeout=120)
    bin_dir = work / "venv" / "bin"
    subprocess.run([str(bin_dir / "pip"), "install", "-q", str(source)], check=True, timeout=840)
    yield bin_dir


def run(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "ibmq-gateway"), *args],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": str(bin_dir), "COLUMNS": "200", "IBMQ_GATEWAY_TOKEN": TEST_TOKEN},
    )  # fmt: skip


def test_the_install_has_none_of_the_server_packages(client_only: Path) -> None:
    probe = (
        "import importlib.util as u; print(u.find_spec('grpc_health'), u.find_spec('qiskit_aer'))"
    )
    found = subprocess.run(
        [str(client_only / "python"), "-c", probe], capture_output=True, text=True, check=True
    )
    assert found.stdout.split() == ["None", "None"]


def test_help_lists_every_command(client_only: Path) -> None:
    outcome = run(client_only, "--help")
    assert outcome.returncode == 0, outcome.stderr
    for command in ("submit", "watch", "jobs", "result", "cancel", "backends", "serve", "demo"):
        assert command in outcome.stdout


def test_backends_of_a_live_gateway(client_only: Path, gateway: EmbeddedGateway) -> None:
    outcome = run(client_only, "backends", "--gateway", gateway.address)
    assert outcome.returncode == 0, outcome.stderr
    assert {"aer_simulator", "fake_manila"} <= {
        line.split()[0] for line in outcome.stdout.splitlines() if line.strip()
    }


@pytest.mark.parametrize("command", ["serve", "demo", "users list", "db upgrade"])
def test_server_commands_name_the_extra_in_one_line(client_only: Path, command: str) -> None:
    outcome = run(client_only, *command.split())
    assert outcome.returncode == 2
    assert outcome.stdout == ""
    assert len(outcome.stderr.splitlines()) == 1, outcome.stderr
    assert "pip install 'ibmq-gateway[server]'" in outcome.stderr
