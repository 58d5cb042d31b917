"""The ``ibmq-gateway`` command against real gateways: in process (CliRunner) and as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from qiskit import QuantumCircuit, qpy
from typer.testing import CliRunner, Result

from ibmq_gateway.client.circuit_files import qasm_circuit
from ibmq_gateway.server.cli import app, main
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from tests.conftest import gateway_settings
from tests.helpers import BELL_QASM2, BELL_QASM3, bell_circuit

COMMANDS = ["serve", "demo", "submit", "watch", "jobs", "result", "cancel", "backends"]
# Wide enough that no table cell is cut short.
RUNNER = CliRunner(env={"COLUMNS": "200"})


def cli(gateway: EmbeddedGateway, *args: str) -> Result:
    """Runs a client command against ``gateway``."""
    return RUNNER.invoke(app, [*args, "--gateway", gateway.address])


def submitted(gateway: EmbeddedGateway, *args: str) -> str:
    """Submits and returns the job id the command printed."""
    outcome = cli(gateway, "submit", *args)
    assert outcome.exit_code == 0, outcome.output
    return outcome.stdout.strip()


def one_line_error(outcome: Result, exit_code: int) -> str:
    """The single stderr line of a failed command (no traceback)."""
    assert outcome.exit_code == exit_code, outcome.output
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ibmq-gateway: "), outcome.stderr
    assert "Traceback" not in outcome.output
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """Bell pairs as OpenQASM 3, OpenQASM 2 (after a comment) and QPY (two circuits)."""
    (tmp_path / "bell3.qasm").write_text(BELL_QASM3)
    (tmp_path / "bell2.qasm").write_text("// version 2, after a comment\n" + BELL_QASM2)
    other = bell_circuit()
    other.name = "bell_again"
    with (tmp_path / "bells.qpy").open("wb") as file:
        qpy.dump([bell_circuit(), other], file)
    return tmp_path


@pytest.fixture
def queued_gateway(tmp_path: Path):
    """A gateway whose aer_simulator never starts a job: they stay QUEUED."""
    settings = gateway_settings(tmp_path / "queued", backend_concurrency={"aer_simulator": 0})
    with EmbeddedGateway(settings) as running:
        yield running


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help(command):
    outcome = RUNNER.invoke(app, [command, "--help"] if command else ["--help"])
    assert outcome.exit_code == 0, outcome.output
    assert "Usage: ibmq-gateway" in outcome.stdout


def test_qasm_version_comes_from_the_header():
    assert qasm_circuit(BELL_QASM2).WhichOneof("program") == "qasm2"
    assert qasm_circuit(BELL_QASM3).WhichOneof("program") == "qasm3"
    assert qasm_circuit("qubit q;").WhichOneof("program") == "qasm3"


def test_submit_watch_runs_every_kind_of_file_and_draws_counts(gateway, files):
    paths = [str(files / name) for name in ("bell3.qasm", "bell2.qasm", "bells.qpy")]
    outcome = cli(gateway, "submit", *paths, "--shots", "500", "--watch")
    assert outcome.exit_code == 0, outcome.output
    lines = outcome.stdout.splitlines()
    assert len(lines[0]) == 32  # the job id comes first
    assert any(" DONE" in line for line in lines)
    titles = [line for line in lines if "500 shots" in line]
    assert [title.split()[:2] for title in titles[2:]] == [
        ["bells.qpy:", "bell"],
        ["bells.qpy:", "bell_again"],
    ]
    assert [title.split()[0] for title in titles[:2]] == ["bell3.qasm", "bell2.qasm"]
    bars = [line.split() for line in lines if "█" in line]
    assert len(bars) == 8 and {bar[0] for bar in bars} == {"00", "11"}


def test_watch_ends_with_done(gateway, files):
    job_id = submitted(gateway, str(files / "bell3.qasm"))
    outcome = cli(gateway, "watch", job_id)
    assert outcome.exit_code == 0, outcome.output
    assert outcome.stdout.splitlines()[-1].startswith(f"job {job_id} DONE")


def test_watch_of_a_failed_job_explains_it(gateway, tmp_path):
    wide = QuantumCircuit(6, 6)
    wide.measure(range(6), range(6))
    with (tmp_path / "wide.qpy").open("wb") as file:
        qpy.dump(wide, file)
    job_id = submitted(gateway, str(tmp_path / "wide.qpy"), "--backend", "fake_manila")
    outcome = cli(gateway, "watch", job_id)
    assert f"job {job_id} ERROR" in outcome.stdout
    assert "qubits" in one_line_error(outcome, 1)


def test_jobs_lists_and_filters(gateway, files):
    tagged = submitted(gateway, str(files / "bell3.qasm"), "--tag", "cli", "--name", "tagged")
    plain = submitted(gateway, str(files / "bell2.qasm"))
    for job_id in (tagged, plain):
        assert cli(gateway, "watch", job_id).exit_code == 0
    every = cli(gateway, "jobs")
    assert every.exit_code == 0, every.output
    rows = {line.split()[0]: line for line in every.stdout.splitlines() if line[:1].isalnum()}
    assert tagged in rows and plain in rows and "aer_simulator" in rows[tagged]
    assert "tagged" in rows[tagged] and "DONE" in rows[tagged] and "cli" in rows[tagged]
    assert "bell2" in rows[plain]  # the name defaults to the first file's
    by_tag = cli(gateway, "jobs", "--tag", "cli", "--status", "done")
    assert tagged in by_tag.stdout and plain not in by_tag.stdout
    none = cli(gateway, "jobs", "--status", "QUEUED", "--status", "cancelled")
    assert none.exit_code == 0 and "No jobs match" in none.stdout
    oldest = cli(gateway, "jobs", "--ascending", "--limit", "1", "--since", "2000-01-01")
    assert tagged in oldest.stdout and plain not in oldest.stdout


def test_result_as_json_and_as_histogram(gateway, files):
    job_id = submitted(gateway, str(files / "bell3.qasm"), "--shots", "1000")
    as_json = cli(gateway, "result", job_id, "--json")
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert document["job_id"] == job_id and len(document["results"]) == 1
    counts = document["results"][0]["counts"]
    assert set(counts) == {"00", "11"} and sum(counts.values()) == 1000
    drawn = cli(gateway, "result", job_id)
    assert drawn.exit_code == 0, drawn.output
    bars = {line.split()[0]: line.split() for line in drawn.stdout.splitlines() if "█" in line}
    assert set(bars) == {"00", "11"}
    assert bars["00"][-2] == str(counts["00"]) and bars["00"][-1].endswith("%")


def test_cancel_a_queued_job_then_a_final_one(queued_gateway, files):
    job_id = submitted(queued_gateway, str(files / "bell3.qasm"))
    listed = cli(queued_gateway, "jobs", "--status", "queued")
    assert job_id in listed.stdout
    cancelled = cli(queued_gateway, "cancel", job_id)
    assert cancelled.exit_code == 0, cancelled.output
    assert cancelled.stdout.strip() == f"job {job_id} CANCELLED"
    again = one_line_error(cli(queued_gateway, "cancel", job_id), 1)
    assert "already CANCELLED" in again
    watched = cli(queued_gateway, "watch", job_id)
    assert "CANCELLED" in watched.stdout
    assert "cancelled" in one_line_error(watched, 1)
    assert "cancelled" in one_line_error(cli(queued_gateway, "result", job_id), 1)


def test_backends_table(gateway):
    outcome = cli(gateway, "backends")
    assert outcome.exit_code == 0, outcome.output
    rows = {line.split()[0]: line.split() for line in outcome.stdout.splitlines()[2:]}
    assert set(rows) == {"aer_simulator", "fake_manila", "fake_brisbane"}
    assert rows["fake_brisbane"][1] == "127" and rows["fake_manila"][1] == "5"
    assert rows["aer_simulator"][2:] == ["yes", "yes", "yes", "0"]


def test_failures_are_one_line(gateway, files, tmp_path):
    unknown = one_line_error(cli(gateway, "submit", str(files / "bell3.qasm"), "-b", "nope"), 1)
    assert "backend 'nope' not found" in unknown
    missing = one_line_error(cli(gateway, "submit", str(tmp_path / "gone.qasm")), 2)
    assert "gone.qasm" in missing
    (tmp_path / "bell.txt").write_text(BELL_QASM3)
    assert ".qpy" in one_line_error(cli(gateway, "submit", str(tmp_path / "bell.txt")), 2)
    (tmp_path / "broken.qasm").write_text("OPENQASM 3.0;\nqubit q;\nfoo q;\n")
    broken = one_line_error(cli(gateway, "submit", str(tmp_path / "broken.qasm")), 2)
    assert "broken.qasm" in broken and "foo" in broken
    assert "JOB_NOT_FOUND" in one_line_error(cli(gateway, "watch", "no-such-job"), 1)


def test_an_unreachable_gateway_or_a_wrong_token_is_one_line(gateway):
    outcome = RUNNER.invoke(app, ["backends", "--gateway", "127.0.0.1:1"])
    assert "is a gateway running there?" in one_line_error(outcome, 1)
    refused = one_line_error(cli(gateway, "jobs", "--token", "igw_not-a-token"), 1)
    assert "UNAUTHENTICATED" in refused and "--token" in refused


def test_bad_settings_exit_2_with_one_line(tmp_path):
    outcome = RUNNER.invoke(app, ["serve", "--config", str(tmp_path / "missing.toml")])
    assert "missing.toml" in one_line_error(outcome, 2)
    assert main(["serve", "--log-format", "xml"]) == 2


def test_the_installed_command_submits_and_watches(gateway, files):
    command = Path(sys.executable).parent / "ibmq-gateway"
    outcome = subprocess.run(
        [str(command), "submit", str(files / "bell3.qasm"), "--watch"],
        env={**os.environ, "IBMQ_GATEWAY_ADDRESS": gateway.address},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert outcome.returncode == 0, outcome.stderr
    bars = [line.split() for line in outcome.stdout.splitlines() if "█" in line]
    assert sorted(bar[0] for bar in bars) == ["00", "11"], outcome.stdout
    assert outcome.stderr == ""
