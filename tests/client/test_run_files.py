"""``GatewayBackend.run_files``: circuit files submitted as they are, through a real gateway."""

from __future__ import annotations

from pathlib import Path

import pytest
from qiskit import qpy

from ibmq_gateway.client import GatewayBackend, IBMQBackendApiError, IBMQBackendValueError
from ibmq_gateway.client.circuit_files import CircuitFileError, read_circuit_files
from tests.helpers import BELL_QASM2, BELL_QASM3, bell_circuit


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "bell3.qasm").write_text(BELL_QASM3)
    (tmp_path / "bell2.qasm").write_text(BELL_QASM2)
    with (tmp_path / "bells.qpy").open("wb") as file:
        qpy.dump([bell_circuit(), bell_circuit()], file)
    return tmp_path


def test_every_circuit_of_the_files_runs_in_one_job(sim: GatewayBackend, files: Path) -> None:
    paths: list[str | Path] = [files / "bell3.qasm", str(files / "bell2.qasm"), files / "bells.qpy"]
    job = sim.run_files(paths, shots=500, job_name="files", job_tags=["f"])
    result = job.result(timeout=60)
    assert len(result.results) == 4
    for index in range(4):
        counts = result.get_counts(index)
        assert set(counts) == {"00", "11"} and sum(counts.values()) == 500
    assert job.name() == "files" and job.tags() == ["f"]
    assert len(job.circuits()) == 4


def test_circuits_read_already_are_taken_as_they_are(sim: GatewayBackend, files: Path) -> None:
    read = read_circuit_files([files / "bells.qpy"])
    assert [circuit.label for circuit in read] == ["bells.qpy: bell", "bells.qpy: bell"]
    job = sim.run_files(read, shots=100)
    assert len(job.result(timeout=60).results) == 2


def test_an_unreadable_file_is_a_value_error_naming_it(sim: GatewayBackend, tmp_path: Path) -> None:
    (tmp_path / "bell.txt").write_text(BELL_QASM3)
    with pytest.raises(CircuitFileError, match=r"bell\.txt: unknown kind of file") as refused:
        sim.run_files([tmp_path / "bell.txt"])
    assert isinstance(refused.value, IBMQBackendValueError)
    (tmp_path / "bad.qpy").write_bytes(b"not qpy")
    with pytest.raises(CircuitFileError, match="not a QPY file"):
        sim.run_files([tmp_path / "bad.qpy"])


def test_a_refused_circuit_is_named_by_its_file(sim: GatewayBackend, files: Path) -> None:
    (files / "broken.qasm").write_text("OPENQASM 3.0;\nqubit q;\nfoo q;\n")
    with pytest.raises(IBMQBackendApiError) as refused:
        sim.run_files([files / "bell3.qasm", files / "broken.qasm"])
    assert "broken.qasm" in refused.value.message
    assert "circuits[1]" not in refused.value.message
    assert refused.value.reason  # the gateway's ErrorInfo reason came along
