"""What the IBM client hands over: the account it uses and plain records of IBM's answers.

They sit apart from ``client`` so that ``errors``, ``jobs``, ``devices`` and ``poller`` can
name them without importing the client that imports them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from qiskit.transpiler import Target


@dataclass(frozen=True)
class IbmAccount:
    """The team's IBM Quantum credentials and where to use them."""

    token: str = field(repr=False)
    instance: str  # CRN or instance name
    api_url: str | None = None
    """Quantum API base (e.g. ``http://127.0.0.1:PORT/api/v1``); None: IBM's own resolution."""


@dataclass(frozen=True)
class IbmDevice:
    name: str
    version: str
    num_qubits: int
    simulator: bool
    target: Target
    max_shots: int
    max_experiments: int
    description: str


@dataclass(frozen=True)
class IbmDeviceStatus:
    operational: bool
    message: str
    queue_length: int
    wait_seconds: float | None  # qiskit-ibm-runtime 0.51 does not expose IBM's wait estimates


@dataclass(frozen=True)
class IbmJobState:
    status: str  # QUEUED, RUNNING, DONE, CANCELLED or ERROR
    reason: str = ""
    reason_code: int | None = None


@dataclass(frozen=True)
class IbmJobTimes:
    """When IBM says a job was created, started running and finished (None: not yet)."""

    created: datetime | None
    running: datetime | None
    finished: datetime | None
