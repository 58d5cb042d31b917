"""A job's circuits as chunks for the cluster: the split, the seeds, and the merge back.

The split keeps results bit for bit what one in-process Aer run gives: Aer seeds the
circuit at index ``i`` of a run with ``seed_simulator + i * 2113`` (modulo 2**64, checked
with qiskit-aer 0.18.2 and by the tests), so a chunk starting at index ``k`` runs with
seed ``seed_simulator + k * 2113`` and its circuits get the seeds they would have had.
"""

from __future__ import annotations

import dataclasses
import io
import math
from typing import TYPE_CHECKING, Any

from qiskit import qpy
from qiskit.result import Result
from qiskit.result.models import ExperimentResult, ExperimentResultData

from ibmq_gateway.server.executors.base import ExecutionError
from ibmq_gateway.server.executors.local.executor import EXECUTION_FAILED

if TYPE_CHECKING:
    from collections.abc import Sequence

    from qiskit import QuantumCircuit

    from ibmq_gateway.server.core.model import RunOptions

AER_SEED_STRIDE = 2113
"""How far apart Aer puts the seeds of consecutive circuits of one run."""
CHUNKS_PER_THREAD = 2
"""Chunks per worker thread: more balances uneven circuits and loses less to a dead worker;
fewer pays the per-task overhead less often (see bench/dask_sim.py)."""
_SEEDS = 2**64


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Circuits ``start`` to ``stop`` (excluded) of a job, run as one task."""

    start: int
    stop: int

    def seed(self, job_seed: int | None) -> int | None:
        """The ``seed_simulator`` that gives this chunk's circuits their one-run seeds."""
        if job_seed is None:
            return None
        derived = (job_seed + self.start * AER_SEED_STRIDE) % _SEEDS
        # Aer takes a signed 64-bit seed and works modulo 2**64.
        return derived - _SEEDS if derived >= _SEEDS // 2 else derived

    def describe(self) -> str:
        """``circuits 0-49``, for messages."""
        return f"circuits {self.start}-{self.stop - 1}"


def split(count: int, threads: int) -> list[Chunk]:
    """Splits ``count`` circuits into about ``CHUNKS_PER_THREAD`` chunks per thread."""
    size = max(1, math.ceil(count / max(1, threads * CHUNKS_PER_THREAD)))
    return [Chunk(start, min(start + size, count)) for start in range(0, count, size)]


def encode(circuits: Sequence[QuantumCircuit], chunks: Sequence[Chunk]) -> list[bytes]:
    """Each chunk's circuits as QPY bytes."""
    payloads = []
    for chunk in chunks:
        buffer = io.BytesIO()
        qpy.dump(list(circuits[chunk.start : chunk.stop]), buffer)
        payloads.append(buffer.getvalue())
    return payloads


def chunk_options(options: RunOptions, chunk: Chunk) -> dict[str, Any]:
    """The job's run options as plain data, with the chunk's own seed."""
    return {
        "shots": options.shots,
        "memory": options.memory,
        "seed_simulator": chunk.seed(options.seed_simulator),
        "extra": dict(options.extra),
    }


def merge(
    circuits: Sequence[QuantumCircuit],
    chunks: Sequence[Chunk],
    outcomes: Sequence[dict[str, Any] | BaseException],
) -> Result:
    """One result for the job, experiments in circuit order; a lost chunk's are failed.

    Args:
        circuits: The job's circuits.
        chunks: How they were split.
        outcomes: Each chunk's ``Result.to_dict()``, or why it did not run.

    Raises:
        ExecutionError: some circuits did not run (``partial`` holds the rest, if any).
    """
    experiments: list[ExperimentResult] = []
    problems: list[str] = []
    first: Result | None = None
    for chunk, outcome in zip(chunks, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            problems.append(f"{chunk.describe()}: {outcome!r}")
            experiments += [_failed(circuits[i], outcome) for i in range(chunk.start, chunk.stop)]
            continue
        result = Result.from_dict(outcome)
        first = first or result
        experiments += result.results
        problems += [
            f"circuit {index} ({circuits[index].name!r}): {experiment.status}"
            for index, experiment in enumerate(result.results, start=chunk.start)
            if not experiment.success
        ]
    merged = _job_result(first, experiments)
    if problems:
        raise _failure(merged, problems)
    return merged


def _job_result(first: Result | None, experiments: list[ExperimentResult]) -> Result:
    success = all(experiment.success for experiment in experiments)
    return Result(
        backend_name=getattr(first, "backend_name", None),
        backend_version=getattr(first, "backend_version", None),
        job_id=getattr(first, "job_id", None),
        success=success,
        results=experiments,
        date=getattr(first, "date", None),
        status="COMPLETED" if success else "PARTIAL COMPLETED",
        header=getattr(first, "header", None),
    )


def _failed(circuit: QuantumCircuit, error: BaseException) -> ExperimentResult:
    return ExperimentResult(
        shots=0,
        success=False,
        data=ExperimentResultData(),
        status=f"ERROR: the cluster did not run it: {error!r}",
        header={"name": circuit.name},
    )


def _failure(result: Result, problems: list[str]) -> ExecutionError:
    """The job's error, as the in-process executor words it, with ``partial`` if any ran."""
    failed = sum(1 for experiment in result.results if not experiment.success)
    more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
    message = (
        f"Aer did not run {failed} of {len(result.results)} circuit(s) on the simulator "
        f"cluster: {'; '.join(problems[:5])}{more}"
    )
    partial = result if failed < len(result.results) else None
    return ExecutionError(EXECUTION_FAILED, "EXECUTION_FAILED", message, partial)
