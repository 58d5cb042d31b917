"""The contract: buf's lint and format rules hold, and the committed code is what protoc writes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
PACKAGE = PROTOS / "ibmq_gateway" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _buf() -> str:
    found = shutil.which("buf", path=str(Path(sys.executable).parent)) or shutil.which("buf")
    if found is None:
        pytest.fail("buf is not installed; it comes with the dev extra (buf-bin)")
    return found


def _run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def test_buf_lint_passes() -> None:
    outcome = _run(_buf(), "lint")
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


def test_protos_are_formatted() -> None:
    outcome = _run(_buf(), "format", "-d", "--exit-code")
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


def test_generated_code_is_current(tmp_path: Path) -> None:
    protos = sorted(str(p.relative_to(PROTOS)) for p in PACKAGE.glob("*.proto"))
    outcome = _run(
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"--python_out={tmp_path}",
        f"--pyi_out={tmp_path}",
        f"--grpc_python_out={tmp_path}",
        *protos,
    )
    assert outcome.returncode == 0, outcome.stderr
    fresh = {p.name: p.read_text() for p in (tmp_path / "ibmq_gateway" / "v1").iterdir()}
    committed = {
        p.name: p.read_text() for p in PACKAGE.iterdir() if p.name.endswith(GENERATED_SUFFIXES)
    }
    assert sorted(fresh) == sorted(committed), "generated files differ; run .ci/gen-protos"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale generated code in {stale}; run .ci/gen-protos and commit"


def test_every_rpc_has_its_own_request_and_response() -> None:
    from ibmq_gateway.v1 import backend_service_pb2, job_service_pb2

    for module in (job_service_pb2, backend_service_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                assert method.input_type.name == f"{method.name}Request"
                assert method.output_type.name == f"{method.name}Response"


# The contract as last accepted by a release; .ci/update-contract-baseline rewrites it.
BASELINE = ROOT / ".ci" / "contract-baseline.binpb"


def test_contract_does_not_break_the_baseline() -> None:
    # FILE rules (buf.yaml): generated code in every language keeps compiling and working.
    outcome = _run(_buf(), "breaking", "--against", str(BASELINE))
    assert outcome.returncode == 0, (
        "the contract breaks clients of the last accepted one (.ci/contract-baseline.binpb);"
        " restore compatibility, or accept it on purpose with .ci/update-contract-baseline:\n"
        + outcome.stdout
        + outcome.stderr
    )


def test_breaking_check_catches_a_renamed_field(tmp_path: Path) -> None:
    # The check above is only worth something if it fails; prove it on a scratch copy.
    shutil.copy(ROOT / "buf.yaml", tmp_path)
    shutil.copytree(PROTOS, tmp_path / "protos", ignore=shutil.ignore_patterns("*.py*"))
    job_proto = tmp_path / "protos" / "ibmq_gateway" / "v1" / "job.proto"
    source = job_proto.read_text()
    assert "  string experiment_id = 9;" in source
    job_proto.write_text(source.replace("string experiment_id = 9;", "string experiment = 9;"))

    outcome = _run(_buf(), "breaking", "--against", str(BASELINE), cwd=tmp_path)
    assert outcome.returncode != 0
    assert 'changed name from "experiment_id" to "experiment"' in outcome.stdout, outcome.stdout
