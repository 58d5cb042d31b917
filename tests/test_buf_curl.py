"""``buf curl`` reaches a live gateway through server reflection, with no .proto files at hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from tests.helpers import BELL_QASM3

BUF = Path(sys.executable).parent / "buf"


def buf_curl(address: str, method: str, request: dict[str, Any]) -> Any:
    """Calls ``method`` (``Service/Rpc``) as any non-Python user would; returns the JSON reply."""
    outcome = subprocess.run(
        [
            str(BUF),
            "curl",
            "--protocol",
            "grpc",
            "--http2-prior-knowledge",
            "-H",
            f"authorization: Bearer {os.environ['IBMQ_GATEWAY_TOKEN']}",
            # Reflection needs the token as well: send the same headers with it.
            "--reflect-header",
            "*",
            "--data",
            json.dumps(request),
            f"http://{address}/ibmq_gateway.v1.{method}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    return json.loads(outcome.stdout)


def test_list_backends(gateway: EmbeddedGateway) -> None:
    reply = buf_curl(gateway.address, "BackendService/ListBackends", {"omit_targets": True})

    names = [backend["name"] for backend in reply["backends"]]
    assert "aer_simulator" in names
    assert all("target" not in backend for backend in reply["backends"])


def test_submitted_job_can_be_fetched(gateway: EmbeddedGateway) -> None:
    submitted = buf_curl(
        gateway.address,
        "JobService/SubmitJob",
        {"backend": "aer_simulator", "circuits": [{"qasm3": BELL_QASM3}], "name": "from-buf"},
    )
    job_id = submitted["job"]["id"]
    assert submitted["resumeToken"]

    fetched = buf_curl(
        gateway.address, "JobService/GetJob", {"job_id": job_id, "view": "JOB_VIEW_FULL"}
    )

    job = fetched["job"]
    assert (job["id"], job["backend"], job["name"]) == (job_id, "aer_simulator", "from-buf")
    assert job["circuits"] == [{"qasm3": BELL_QASM3}]
