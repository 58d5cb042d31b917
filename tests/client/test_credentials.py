"""Where the client finds its token, and the one-line errors when a place it is sent fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ibmq_gateway.client import GatewayProvider, IBMQAccountError
from ibmq_gateway.client._credentials import TOKEN_ENV, TOKEN_FILE_ENV
from tests.conftest import TEST_TOKEN


@pytest.fixture
def no_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No token in the environment; returns the state home a local gateway would use."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.delenv(TOKEN_FILE_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state-home"))
    return tmp_path / "state-home"


@pytest.mark.parametrize("kind", ["missing", "a directory"])
def test_a_token_file_that_cannot_be_read_is_named_with_its_variable(
    no_token: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "token"
    if kind == "a directory":
        path.mkdir()
    monkeypatch.setenv(TOKEN_FILE_ENV, str(path))
    with pytest.raises(IBMQAccountError) as failed:
        GatewayProvider("127.0.0.1:1")
    message = str(failed.value.message)
    assert message.startswith(f"IBMQ_GATEWAY_TOKEN_FILE names {path}, but it cannot be read: ")
    assert "\n" not in message


def test_the_command_line_says_so_in_one_line(no_token: Path, tmp_path: Path) -> None:
    environ = {**os.environ, TOKEN_FILE_ENV: str(tmp_path / "gone")}
    outcome = subprocess.run(
        [sys.executable, "-m", "ibmq_gateway.server.cli", "backends", "--gateway", "127.0.0.1:1"],
        capture_output=True, text=True, timeout=120, env=environ, check=False,
    )  # fmt: skip
    assert outcome.returncode == 1
    assert outcome.stderr.strip().splitlines() == [
        f"ibmq-gateway: IBMQ_GATEWAY_TOKEN_FILE names {tmp_path / 'gone'}, but it cannot be "
        "read: No such file or directory"
    ]


def _admin_token_file(state_home: Path, mode: int) -> Path:
    path = state_home / "ibmq-gateway" / "admin.token"
    path.parent.mkdir(parents=True)
    path.write_text(TEST_TOKEN + "\n")
    path.chmod(mode)
    return path


def test_a_private_local_admin_token_file_is_used(no_token: Path, gateway) -> None:
    _admin_token_file(no_token, 0o600)
    with GatewayProvider(gateway.address) as provider:
        assert provider.get_backend("aer_simulator").name == "aer_simulator"


def test_a_local_admin_token_file_others_can_read_is_refused(no_token: Path) -> None:
    path = _admin_token_file(no_token, 0o644)
    with pytest.raises(IBMQAccountError) as failed:
        GatewayProvider("127.0.0.1:1")
    assert str(failed.value.message) == (
        f"the local admin token file {path} is readable by others (mode 0644); "
        f"make it private with: chmod 600 {path}"
    )
