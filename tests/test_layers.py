"""The rooms of server/ import only downward, and the client never imports the server.

The contracts live in pyproject.toml (``tool.importlinter``); import-linter checks them on
the import graph, including imports made only for type checking.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(*, python_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if python_path is not None:
        env["PYTHONPATH"] = str(python_path)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env, check=False,
    )  # fmt: skip


def test_every_contract_is_kept() -> None:
    outcome = lint_imports()
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert "0 broken" in outcome.stdout


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    # The same contracts over a copy whose core reaches up into jobs.
    appended(copy_of_the_code(tmp_path) / "server/core/states.py", "ibmq_gateway.server.jobs")
    outcome = lint_imports(python_path=tmp_path)
    assert outcome.returncode != 0
    assert "server rooms import only downward BROKEN" in outcome.stdout
    assert "ibmq_gateway.server.core.states -> ibmq_gateway.server.jobs" in outcome.stdout


def test_a_cycle_breaks_the_contracts_even_for_type_checking(tmp_path: Path) -> None:
    backend = copy_of_the_code(tmp_path) / "client/backend.py"
    appended(backend, "ibmq_gateway.client.provider", type_checking=True)
    outcome = lint_imports(python_path=tmp_path)
    assert outcome.returncode != 0
    assert "import each other, even for type checking BROKEN" in outcome.stdout


def copy_of_the_code(tmp_path: Path) -> Path:
    """``ibmq_gateway`` laid out as its import path, under ``tmp_path``."""
    copy = tmp_path / "ibmq_gateway"
    shutil.copytree(ROOT / "server", copy / "server")
    shutil.copytree(ROOT / "client", copy / "client")
    shutil.copytree(ROOT / "protos" / "ibmq_gateway" / "v1", copy / "v1")
    return copy


def appended(module: Path, imported: str, *, type_checking: bool = False) -> None:
    line = f"import {imported}"
    if type_checking:
        line = f"from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    {line}"
    module.write_text(f"{module.read_text()}\n{line}\n")
