"""The Node.js example (examples/node) runs a Bell job against a real gateway, end to end."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from ibmq_gateway.v1 import job_service_pb2
from tests.helpers import connect

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "node"
LIFECYCLE = ["CREATING", "VALIDATING", "VALIDATED", "QUEUED", "RUNNING", "COMPLETED"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client_js(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """client.js with its locked dependencies installed, in a copy of the repository's layout."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("node and npm are not installed")
    root = tmp_path_factory.mktemp("node-example")
    example = root / "examples" / "node"
    # client.js finds the contract at ../../protos, as it does in the repository.
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("node_modules"))
    (root / "protos").symlink_to(ROOT / "protos", target_is_directory=True)
    install = "ci" if (example / "package-lock.json").exists() else "install"
    # npm's cache goes to the temporary directory too: nothing is kept outside it.
    env = {**os.environ, "npm_config_cache": str(root / "npm-cache")}
    outcome = subprocess.run(
        [npm, install, "--no-audit", "--no-fund"],
        cwd=example,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    return example / "client.js"


@pytest.mark.timeout(360)
def test_bell_job_from_node(client_js: Path, gateway: EmbeddedGateway) -> None:
    outcome = subprocess.run(
        ["node", client_js.name, gateway.address],
        cwd=client_js.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    lines = outcome.stdout.splitlines()

    assert "aer_simulator" in lines[0].split()[1:]
    submitted = re.fullmatch(r"submitted (\w+) to aer_simulator \((\d+) shots\)", lines[1])
    assert submitted, lines[1]
    job_id, shots = submitted[1], int(submitted[2])

    statuses = [line.split() for line in lines if line.startswith("status ")]
    states = [state for _, state, _ in statuses]
    for _, _, time in statuses:
        datetime.fromisoformat(time)
    assert {"QUEUED", "RUNNING"} <= set(states), states
    assert states[-1] == "COMPLETED"
    assert states == sorted(states, key=LIFECYCLE.index), "statuses out of lifecycle order"

    assert lines[-1].startswith("counts ")
    counts = json.loads(lines[-1].removeprefix("counts "))
    assert set(counts) <= {"00", "11"}
    assert sum(counts.values()) == shots

    # The job the client reported is the gateway's, with the client's name and shots.
    stubs = connect(gateway.address)
    try:
        job = stubs.jobs.GetJob(job_service_pb2.GetJobRequest(job_id=job_id), timeout=30).job
        assert (job.name, job.run_options.shots) == ("bell-from-node", shots)
    finally:
        stubs.close()
