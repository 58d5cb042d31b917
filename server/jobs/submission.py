"""What a client asks for when it submits a job, checked before anything is stored."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ibmq_gateway.server.core.errors import FieldViolation, InvalidArgumentError
from ibmq_gateway.server.core.model import CircuitSource, RunOptions

if TYPE_CHECKING:
    from ibmq_gateway.server.executors.base import BackendInfo

SHARE_LEVELS = ("none", "project", "group", "hub", "global")
MAX_NAME_LENGTH = 200
MAX_TAG_LENGTH = 100
MAX_TAGS = 50


@dataclass(frozen=True)
class Submission:
    """A SubmitJob request in domain terms."""

    backend: str
    circuits: tuple[CircuitSource, ...]
    run_options: RunOptions = field(default_factory=RunOptions)
    name: str = ""
    tags: tuple[str, ...] = ()
    share_level: str = "none"
    experiment_id: str = ""
    header: dict[str, Any] = field(default_factory=dict)
    client_info: dict[str, str] = field(default_factory=dict)
    request_id: str = ""

    def fingerprint(self) -> str:
        """A digest of everything but the request id: equal payloads, equal digests."""
        digest = hashlib.sha256()
        for circuit in self.circuits:
            digest.update(circuit.format.encode())
            digest.update(hashlib.sha256(circuit.payload).digest())
        digest.update(json.dumps(self._metadata(), sort_keys=True, default=str).encode())
        return digest.hexdigest()

    def _metadata(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "run_options": self.run_options.__dict__,
            "name": self.name,
            "tags": self.tags,
            "share_level": self.share_level,
            "experiment_id": self.experiment_id,
            "header": self.header,
            "client_info": self.client_info,
        }


def check_submission(submission: Submission, backend: BackendInfo) -> None:
    """Raises InvalidArgumentError listing everything wrong with the request."""
    violations = [
        *_circuit_count_violations(len(submission.circuits), backend),
        *_shots_violations(submission.run_options.shots, backend),
        *tag_violations(submission.tags),
        *name_violations(submission.name),
    ]
    if submission.share_level not in SHARE_LEVELS:
        violations.append(
            FieldViolation("share_level", f"must be one of {', '.join(SHARE_LEVELS)}")
        )
    if violations:
        raise InvalidArgumentError(summary(violations), violations)


def tag_violations(tags: tuple[str, ...], field_name: str = "tags") -> list[FieldViolation]:
    """What is wrong with a list of job tags (empty when nothing is)."""
    violations = []
    if len(tags) > MAX_TAGS:
        violations.append(FieldViolation(field_name, f"at most {MAX_TAGS} tags per job"))
    for index, tag in enumerate(tags):
        if not tag.strip() or len(tag) > MAX_TAG_LENGTH:
            violations.append(
                FieldViolation(
                    f"{field_name}[{index}]",
                    f"a tag is 1 to {MAX_TAG_LENGTH} characters, not only spaces",
                )
            )
    return violations


def _circuit_count_violations(count: int, backend: BackendInfo) -> list[FieldViolation]:
    if count == 0:
        return [FieldViolation("circuits", "a job needs at least one circuit")]
    if count > backend.max_circuits:
        return [
            FieldViolation(
                "circuits",
                f"{count} circuits, but {backend.name} takes at most {backend.max_circuits} "
                "per job; split them into several jobs",
            )
        ]
    return []


def _shots_violations(shots: int | None, backend: BackendInfo) -> list[FieldViolation]:
    if shots is not None and not 1 <= shots <= backend.max_shots:
        return [
            FieldViolation(
                "run_options.shots",
                f"{shots} shots; {backend.name} takes 1 to {backend.max_shots}",
            )
        ]
    return []


def name_violations(name: str) -> list[FieldViolation]:
    """What is wrong with a job's name (SubmitJob and UpdateJob check the same)."""
    if len(name) > MAX_NAME_LENGTH:
        return [FieldViolation("name", f"at most {MAX_NAME_LENGTH} characters")]
    return []


def summary(violations: list[FieldViolation]) -> str:
    """One line naming every violation, for the error's message."""
    return "invalid request: " + "; ".join(f"{v.field}: {v.description}" for v in violations)
