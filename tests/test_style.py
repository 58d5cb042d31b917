"""Lint and formatting are part of the suite, so CI and people see the same verdict."""

from __future__ import annotations

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
