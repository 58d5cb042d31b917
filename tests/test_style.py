"""Lint and formatting are part of the suite, so CI and people see the same verdict."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_finds_nothing() -> None:
    outcome = _run(str(TOOLS / "ruff"), "check", ".")
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


def test_code_is_formatted() -> None:
    outcome = _run(str(TOOLS / "ruff"), "format", "--check", ".")
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


def test_types_check(tmp_path: Path) -> None:
    # setuptools maps ibmq_gateway.* onto server/, client/ and protos/ through an import
    # hook that mypy cannot follow; a tree of links shaped like the import path can.
    package = tmp_path / "ibmq_gateway"
    package.mkdir()
    links = (("server", "server"), ("client", "client"), ("v1", "protos/ibmq_gateway/v1"))
    for name, source in links:
        (package / name).symlink_to(ROOT / source, target_is_directory=True)
    environ = {**os.environ, "MYPYPATH": str(tmp_path)}
    # mypy takes packages or files in one run, not both.
    for targets in (["-p", "ibmq_gateway.server", "-p", "ibmq_gateway.client"], ["tests", "bench"]):
        outcome = subprocess.run(
            [str(TOOLS / "mypy"), *targets],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            env=environ,
        )
        assert outcome.returncode == 0, outcome.stdout + outcome.stderr


LONG_MODULE = 320
"""About 300 lines; a module past this says why in its docstring (a paragraph "Size: ...")."""


def test_long_modules_say_why() -> None:
    unexplained = []
    for module in sorted([*ROOT.glob("server/**/*.py"), *ROOT.glob("client/**/*.py")]):
        lines = module.read_text().count("\n")
        docstring = ast.get_docstring(ast.parse(module.read_text())) or ""
        if lines > LONG_MODULE and "\nSize: " not in f"\n{docstring}":
            unexplained.append(f"{module.relative_to(ROOT)}: {lines} lines")
    assert not unexplained, unexplained
