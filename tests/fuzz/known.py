"""What the fuzzer knows of its gateway: users, jobs and tokens, made before it starts.

Random ids rarely name a real job; requests drawn half from these reach the code behind
the lookups (visibility, state checks, result encoding, replays from a real position).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import grpc

from ibmq_gateway.server.cli import admin
from ibmq_gateway.server.core.settings import Settings
from ibmq_gateway.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.fuzz.tokens import unwrap
from tests.helpers import BELL_QASM3

if TYPE_CHECKING:
    from pathlib import Path

BACKENDS = ("aer_simulator", "fake_manila", "fake_brisbane")

FUZZ_SETTINGS = {
    "max_circuit_qubits": 16,
    "max_circuit_operations": 10_000,
    "quota_request_bytes": 1024 * 1024,
}
"""Settings of a fuzzed gateway. A mutated circuit that is still valid must not start a
simulation that takes this machine's memory (Aer takes 30 qubits with 24 GB); and a 1 MiB
request limit makes oversized requests cheap to send."""


@dataclass(frozen=True)
class Known:
    """Names, ids and tokens that exist on the fuzzed gateway."""

    tokens: dict[str, str]
    """Valid bearer tokens by user: an admin, and two users in different groups."""
    refused_tokens: tuple[str, ...]
    """Tokens of real users that no longer work (revoked, expired)."""
    job_ids: tuple[str, ...]
    resume_tokens: tuple[str, ...]
    page_tokens: tuple[str, ...]
    epoch: str
    backends: tuple[str, ...] = BACKENDS


def add_users(state_dir: Path) -> tuple[dict[str, str], tuple[str, ...]]:
    """Users beside the admin (straight into the store, as ``users add`` does)."""
    settings = Settings(state_dir=state_dir)

    async def add() -> tuple[dict[str, str], tuple[str, ...]]:
        tokens = {
            "alice": await admin.add_user(settings, "alice", ("h", "g", "p")),
            "bob": await admin.add_user(settings, "bob", ("h", "g2", "p2")),
        }
        revoked = await admin.add_user(settings, "carol", ("h", "g", "p"))
        await admin.revoke_user(settings, "carol")
        expired = await admin.add_user(settings, "dave", ("h", "g", "p"), expires_in=timedelta())
        return tokens, (revoked, expired)

    return asyncio.run(add())


def learn(address: str, admin_token: str, state_dir: Path) -> Known:
    """Adds users and submits a few jobs (one cancelled, one completed); returns them all."""
    tokens, refused = add_users(state_dir)
    tokens = {"admin": admin_token, **tokens}
    with grpc.insecure_channel(address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        submits = [_submit(stub, tokens[user], share) for user, share in _SEEDED_JOBS]
        auth = (("authorization", f"Bearer {admin_token}"),)
        stub.CancelJob(job_service_pb2.CancelJobRequest(job_id=submits[-1].job.id), metadata=auth)
        _wait_final(stub, submits[0].job.id, auth)
        page = stub.ListJobs(job_service_pb2.ListJobsRequest(page_size=1), metadata=auth)
    resume = (*(response.resume_token for response in submits), page.resume_token)
    return Known(
        tokens=tokens,
        refused_tokens=refused,
        job_ids=tuple(response.job.id for response in submits),
        resume_tokens=resume,
        page_tokens=(page.next_page_token,),
        epoch=unwrap(page.resume_token).split(":")[1],
    )


_SEEDED_JOBS = (
    ("admin", job_pb2.SHARE_LEVEL_GLOBAL),
    ("alice", job_pb2.SHARE_LEVEL_NONE),
    ("bob", job_pb2.SHARE_LEVEL_GROUP),
    ("alice", job_pb2.SHARE_LEVEL_PROJECT),
)


def _submit(
    stub: job_service_pb2_grpc.JobServiceStub, token: str, share: int
) -> job_service_pb2.SubmitJobResponse:
    request = job_service_pb2.SubmitJobRequest(
        backend="aer_simulator",
        circuits=[job_pb2.Circuit(qasm3=BELL_QASM3)],
        name="seed",
        tags=["fuzz", "seed"],
        share_level=share,  # type: ignore[arg-type]
        run_options=job_pb2.RunOptions(shots=16),
    )
    auth = (("authorization", f"Bearer {token}"),)
    response: job_service_pb2.SubmitJobResponse = stub.SubmitJob(request, metadata=auth, timeout=30)
    return response


def _wait_final(
    stub: job_service_pb2_grpc.JobServiceStub, job_id: str, auth: tuple[tuple[str, str], ...]
) -> None:
    request = job_service_pb2.WatchJobRequest(job_id=job_id)
    for message in stub.WatchJob(request, metadata=auth, timeout=60):
        if message.HasField("event") and message.event.job.final:
            return


def fuzzed(settings: Settings) -> Settings:
    """``settings`` changed as ``FUZZ_SETTINGS`` says."""
    return dataclasses.replace(settings, **FUZZ_SETTINGS)  # type: ignore[arg-type]
