"""``ibmq-gateway users`` and ``audit`` against a running gateway's state directory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from typer.testing import CliRunner

from ibmq_gateway.server.api.auth import token_digest
from ibmq_gateway.server.cli import app
from tests.helpers import connect, details, submit

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


def _token_of(outcome) -> str:
    assert outcome.exit_code == 0, outcome.output
    return str(outcome.stdout.strip().splitlines()[0])


def _row_of(listing: str, name: str) -> str:
    return next(line for line in listing.splitlines() if line.startswith(name + " "))


def test_a_rotated_token_replaces_the_old_one_at_once(gateway):
    old = _token_of(_run(gateway, "users", "add", "dora", "--hub", "h", "--group", "g",
                         "--project", "p"))  # fmt: skip
    assert submit(connect(gateway.address, old)).job.owner == "dora"
    new = _token_of(_run(gateway, "users", "rotate", "dora"))
    assert new != old
    with pytest.raises(grpc.RpcError) as caught:
        submit(connect(gateway.address, old))
    assert details(caught.value)[0].reason == "INVALID_TOKEN"
    assert submit(connect(gateway.address, new)).job.owner == "dora"
    # The list says when the token was last used (to the minute), never the token.
    listing = _run(gateway, "users", "list").stdout
    row = _row_of(listing, "dora")
    assert datetime.now(UTC).strftime("%Y-%m-%d") in row and new not in listing
    actions = [line.split()[3] for line in _run(gateway, "audit").stdout.splitlines()[2:]]
    assert actions[:3] == ["job.submit", "user.rotate", "job.submit"]
    gone = _run(gateway, "users", "rotate", "nobody")
    assert gone.exit_code == 1 and "no active user named 'nobody'" in gone.stderr


def test_an_expired_token_says_so_and_a_rotation_renews_it(gateway):
    expiring = _run(gateway, "users", "add", "erin", "--hub", "h", "--group", "g",
                    "--project", "p", "--expires-in", "30")  # fmt: skip
    token = _token_of(expiring)
    in_30_days = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d")
    assert in_30_days in _row_of(_run(gateway, "users", "list").stdout, "erin")
    store = gateway.gateway.store
    gateway.call(store.rotate_token("erin", token_digest(token), datetime.now(UTC)))
    with pytest.raises(grpc.RpcError) as caught:
        submit(connect(gateway.address, token))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert details(caught.value)[0].reason == "TOKEN_EXPIRED"
    assert "ibmq-gateway users rotate erin" in (caught.value.details() or "")
    renewed = _token_of(_run(gateway, "users", "rotate", "erin"))
    assert submit(connect(gateway.address, renewed)).job.owner == "erin"
    wrong = _run(gateway, "users", "rotate", "erin", "--expires-in", "0")
    assert wrong.exit_code == 2 and "positive number of days" in wrong.stderr
