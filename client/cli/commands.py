"""The client side of ``ibmq-gateway``: submit, watch, jobs, result, cancel, backends.

Each command opens its own connection (``--gateway``, ``--token``), does one thing through
the Python client's public API and prints it with Rich. Failures are turned into one line
and an exit code by ``failures.reports_failures``.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from qiskit.providers import JobStatus
from rich.console import Console
from rich.text import Text

from ibmq_gateway.client import GatewayProvider
from ibmq_gateway.client.circuit_files import read_circuit_files
from ibmq_gateway.client.cli.failures import CommandFailure, reports_failures
from ibmq_gateway.client.cli.render import backends_table, histogram, jobs_table, status_text
from ibmq_gateway.client.cli.watching import follow

if TYPE_CHECKING:
    from qiskit.result import Result

    from ibmq_gateway.client import IBMQJob

DEFAULT_GATEWAY = "127.0.0.1:50051"
PIPED_WIDTH = 200
PANEL = "Use a gateway"

Gateway = Annotated[
    str,
    typer.Option(
        "--gateway",
        "-g",
        envvar="IBMQ_GATEWAY_ADDRESS",
        metavar="ADDRESS",
        help="host:port of the gateway.",
        rich_help_panel="Connection",
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        help="Your gateway token, sent as a bearer token.  [default: IBMQ_GATEWAY_TOKEN, then "
        "the file IBMQ_GATEWAY_TOKEN_FILE names, then a local gateway's admin token]",
        show_default=False,
        rich_help_panel="Connection",
    ),
]
JobId = Annotated[str, typer.Argument(metavar="JOB_ID", help="The job's id, as submit printed it.")]
ShareLevel = Literal["none", "project", "group", "hub", "global"]


class StatusName(StrEnum):
    """A job status as ``jobs --status`` takes it: a name of qiskit's ``JobStatus``."""

    INITIALIZING = "INITIALIZING"
    VALIDATING = "VALIDATING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    CANCELLED = "CANCELLED"
    ERROR = "ERROR"


def register(app: typer.Typer) -> None:
    """Adds the client commands to ``app``."""
    for command in (submit, watch, jobs, result, cancel, backends):
        app.command(rich_help_panel=PANEL)(reports_failures(command))


def submit(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE",
            help="OpenQASM 2 or 3 (.qasm) or QPY (.qpy) files; every circuit in them runs "
            "in this one job.",
            show_default=False,
        ),
    ],
    backend: Annotated[
        str, typer.Option("--backend", "-b", help="Backend to run on (see: backends).")
    ] = "aer_simulator",
    shots: Annotated[
        int | None,
        typer.Option(
            min=1, help="Repetitions of each circuit.  [default: 4000]", show_default=False
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Name of the job.  [default: the first file's name]", show_default=False),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", help="Tag the job (repeat for several).", show_default=False),
    ] = None,
    share_level: Annotated[
        ShareLevel | None,
        typer.Option(help="Who besides you may see the job.", show_default=False),
    ] = None,
    watch_job: Annotated[
        bool,
        typer.Option("--watch", "-w", help="Follow the job until it ends, then show its counts."),
    ] = False,
    gateway: Gateway = DEFAULT_GATEWAY,
    token: Token = None,
) -> None:
    """Submit circuit files as one job and print its id.

    A .qasm file is OpenQASM 2 when it starts with OPENQASM 2, else OpenQASM 3; the gateway
    parses it. With --watch the command ends like watch, then prints the counts.
    """
    circuits = read_circuit_files(files)
    with GatewayProvider(gateway, token) as provider:
        job = provider.get_backend(backend).run_files(
            circuits, job_name=files[0].stem if name is None else name, job_tags=tag or None,
            job_share_level=share_level, shots=shots,
        )  # fmt: skip
        typer.echo(job.job_id())
        if watch_job:
            _show_counts(job, [circuit.label for circuit in circuits])


def watch(job_id: JobId, gateway: Gateway = DEFAULT_GATEWAY, token: Token = None) -> None:
    """Follow a job's status live until it ends.

    While the job waits it shows its queue position and estimated start. Exits with 0 when
    the job is DONE, 1 when it ended in ERROR (with the reason) or was CANCELLED.
    """
    with GatewayProvider(gateway, token) as provider:
        job = provider.backend.retrieve_job(job_id)
        _require_done(job, follow(job, _console()))


def jobs(
    limit: Annotated[int, typer.Option(min=0, help="Show at most this many (0: all).")] = 10,
    skip: Annotated[int, typer.Option(min=0, help="Leave out this many first.")] = 0,
    backend: Annotated[str | None, typer.Option(help="Only jobs of this backend.")] = None,
    status: Annotated[
        list[StatusName] | None,
        typer.Option(case_sensitive=False, help="Only jobs in this status (repeatable)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="A regular expression searched in job names.")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="Only jobs with this tag (repeatable).")
    ] = None,
    tags_all: Annotated[
        bool, typer.Option("--tags-all", help="Jobs must have every --tag, not just one.")
    ] = False,
    since: Annotated[
        datetime | None,
        typer.Option(parser=_iso_time, help="Created at or after (ISO time)."),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(parser=_iso_time, help="Created at or before (ISO time)."),
    ] = None,
    experiment: Annotated[str | None, typer.Option(help="Only jobs of this experiment.")] = None,
    ascending: Annotated[bool, typer.Option(help="Oldest first instead of newest first.")] = False,
    gateway: Gateway = DEFAULT_GATEWAY,
    token: Token = None,
) -> None:
    """List jobs, newest first, as a table.

    Times are ISO 8601 (2025-01-31, 2025-01-31T14:30, 2025-01-31T14:30+01:00); without an
    offset they are local times.
    """
    with GatewayProvider(gateway, token) as provider:
        found = provider.backend.jobs(
            limit=limit, skip=skip, backend_name=backend, status=_statuses(status), job_name=name,
            start_datetime=since, end_datetime=until, job_tags=tag or None,
            job_tags_operator="AND" if tags_all else "OR", experiment_id=experiment,
            descending=not ascending,
        )  # fmt: skip
        console = _console()
        console.print(jobs_table(found) if found else Text("No jobs match.", style="dim"))
    if found and len(found) == limit:
        hint = f"Only {limit} shown: --skip {skip + limit} shows the next ones, --limit 0 all."
        console.print(hint, style="dim")


def result(
    job_id: JobId,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON for scripts instead of histograms.")
    ] = False,
    gateway: Gateway = DEFAULT_GATEWAY,
    token: Token = None,
) -> None:
    """Print a job's counts per circuit as histograms (waits for the job to end).

    --json prints {"job_id": ..., "results": [{"name": ..., "counts": {...}}]}.
    """
    with GatewayProvider(gateway, token) as provider:
        counts = _counts(provider.backend.retrieve_job(job_id).result())
    if as_json:
        results = [{"name": name, "counts": found} for name, found in counts]
        typer.echo(json.dumps({"job_id": job_id, "results": results}))
        return
    console = _console()
    for name, found in counts:
        console.print(histogram(name, found))


def cancel(job_id: JobId, gateway: Gateway = DEFAULT_GATEWAY, token: Token = None) -> None:
    """Cancel a job that has not ended and print its new status."""
    with GatewayProvider(gateway, token) as provider:
        job = provider.backend.retrieve_job(job_id)
        if not job.cancel():
            final = job.status().name
            raise CommandFailure(f"job {job_id} is already {final}, so it cannot be cancelled")
        _console().print(f"job {job_id} ", status_text(job.status()), sep="")


def backends(gateway: Gateway = DEFAULT_GATEWAY, token: Token = None) -> None:
    """List the gateway's backends: size, kind, whether they take jobs, and their queues."""
    with GatewayProvider(gateway, token) as provider:
        rows = [(backend, backend.status()) for backend in provider.backends()]
    _console().print(backends_table(rows))


def _show_counts(job: IBMQJob, labels: list[str]) -> None:
    console = _console()
    _require_done(job, follow(job, console))
    for label, (_, found) in zip(labels, _counts(job.result()), strict=False):
        console.print(histogram(label, found))


def _require_done(job: IBMQJob, status: JobStatus) -> None:
    if status is JobStatus.ERROR:
        raise CommandFailure(f"job {job.job_id()} failed: {job.error_message()}")
    if status is JobStatus.CANCELLED:
        raise CommandFailure(f"job {job.job_id()} was cancelled")


def _counts(found: Result) -> list[tuple[str, dict[str, int]]]:
    """(circuit name, counts) per circuit of a result."""
    counts = []
    for index, experiment in enumerate(found.results):
        header = experiment.header if isinstance(experiment.header, dict) else {}
        name = str(header.get("name") or f"circuit {index}")
        has_counts = "counts" in experiment.data.to_dict()
        counts.append((name, dict(found.get_counts(index)) if has_counts else {}))
    return counts


def _statuses(names: list[StatusName] | None) -> list[str | JobStatus] | None:
    return [str(name) for name in names] if names else None


def _iso_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 time, e.g. 2025-01-31T14:30"
        ) from None


def _console() -> Console:
    # Numbers and ids in plain strings would otherwise be coloured at random.
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped into grep or a file, a table row stays on one line instead of wrapping at 80.
        console.width = PIPED_WIDTH
    return console
