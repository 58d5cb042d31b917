"""The audit trail and the admin's user operations, against a running gateway."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from ibmq_gateway.server.cli import admin
from ibmq_gateway.server.store import DuplicateUserError
from ibmq_gateway.v1 import job_service_pb2
from tests.helpers import connect, submit


def test_job_actions_are_recorded_with_actor_and_peer(gateway):
    stubs = connect(gateway.address)
    job = submit(stubs, name="audited").job
    stubs.jobs.UpdateJob(job_service_pb2.UpdateJobRequest(job_id=job.id, name="renamed"))
    try:
        stubs.jobs.CancelJob(job_service_pb2.CancelJobRequest(job_id=job.id))
        cancelled = True
    except grpc.RpcError:
        cancelled = False  # it finished first; a refused cancel changes nothing
    stubs.close()
    entries = asyncio.run(admin.list_audit(gateway.settings, limit=10))
    actions = [(entry.action, entry.target) for entry in reversed(entries)]
    expected = [("job.submit", job.id), ("job.update", job.id)]
    assert actions == expected + ([("job.cancel", job.id)] if cancelled else [])
    assert all(entry.actor == "admin" and "127.0.0.1" in entry.peer for entry in entries)
    assert entries[-1].detail == {"backend": "aer_simulator"}


def test_a_user_added_by_the_admin_can_call_until_revoked(gateway):
    token = asyncio.run(admin.add_user(gateway.settings, "alice", ("h", "g", "p")))
    stubs = connect(gateway.address, token)
    assert submit(stubs).job.owner == "alice"
    assert asyncio.run(admin.revoke_user(gateway.settings, "alice"))
    with pytest.raises(grpc.RpcError) as caught:
        submit(stubs)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    stubs.close()
    users = asyncio.run(admin.list_users(gateway.settings))
    assert [(user.name, user.active) for user in users] == [("admin", True), ("alice", False)]
    trail = asyncio.run(admin.list_audit(gateway.settings, limit=10, actor="alice"))
    assert [entry.action for entry in trail] == ["job.submit"]
    local = [
        e
        for e in asyncio.run(admin.list_audit(gateway.settings, limit=10))
        if e.peer.startswith("cli:")
    ]
    assert [(e.action, e.target) for e in reversed(local)] == [
        ("user.add", "alice"),
        ("user.revoke", "alice"),
    ]


def test_a_taken_name_is_refused_and_changes_nothing(gateway):
    asyncio.run(admin.add_user(gateway.settings, "bob", ("h", "g", "p")))
    with pytest.raises(DuplicateUserError):
        asyncio.run(admin.add_user(gateway.settings, "bob", ("x", "y", "z")))
    users = {user.name: user for user in asyncio.run(admin.list_users(gateway.settings))}
    assert users["bob"].hub == "h"
