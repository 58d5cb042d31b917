"""``ibmq-gateway users`` and ``audit`` against a running gateway's state directory."""

from __future__ import annotations

import grpc
import pytest
from typer.testing import CliRunner

from ibmq_gateway.server.cli import app
from tests.helpers import connect, submit

RUNNER = CliRunner(env={"COLUMNS": "200"})


def _run(gateway, *args: str):
    return RUNNER.invoke(app, [*args, "--state-dir", str(gateway.settings.state_dir)])


def test_a_user_added_on_the_command_line_can_call_until_revoked(gateway):
    added = _run(gateway, "users", "add", "alice", "--hub", "h", "--group", "g", "--project", "p")
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[0]
    assert token.startswith("igw_")
    stubs = connect(gateway.address, token)
    assert submit(stubs).job.owner == "alice"

    listed = _run(gateway, "users", "list")
    assert listed.exit_code == 0 and "alice" in listed.stdout and token not in listed.stdout

    assert _run(gateway, "users", "revoke", "alice").exit_code == 0
    with pytest.raises(grpc.RpcError) as caught:
        submit(stubs)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    stubs.close()

    trail = _run(gateway, "audit", "--limit", "10")
    assert trail.exit_code == 0
    rows = [line.split() for line in trail.stdout.splitlines()]
    actions = [row[3] for row in rows if len(row) > 3 and "." in row[3]]
    assert actions == ["user.revoke", "job.submit", "user.add"]
    assert token not in trail.stdout


def test_mistakes_are_one_line_with_an_exit_code(gateway):
    args = ("users", "add", "bob", "--hub", "h", "--group", "g", "--project", "p")
    assert _run(gateway, *args).exit_code == 0
    again = _run(gateway, *args)
    assert again.exit_code == 2
    assert again.stderr.strip() == "ibmq-gateway: a user named 'bob' exists already"
    gone = _run(gateway, "users", "revoke", "nobody")
    assert gone.exit_code == 1 and "no active user named 'nobody'" in gone.stderr
    missing = RUNNER.invoke(app, ["users", "add", "carol"])
    assert missing.exit_code == 2  # --hub, --group and --project are required
