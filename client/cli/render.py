"""What the client commands print: tables of jobs and backends, and histograms of counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qiskit.providers import JobStatus
from rich import box
from rich.bar import Bar
from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from rich.console import RenderableType

    from ibmq_gateway.client import BackendStatus, GatewayBackend, IBMQJob


STATUS_STYLES = {
    JobStatus.INITIALIZING: "magenta",
    JobStatus.VALIDATING: "magenta",
    JobStatus.QUEUED: "cyan",
    JobStatus.RUNNING: "blue",
    JobStatus.DONE: "green",
    JobStatus.CANCELLED: "yellow",
    JobStatus.ERROR: "bold red",
}
MAX_OUTCOMES = 32
"""Outcomes a histogram shows; beyond this only the most frequent ones (wide circuits on noisy
devices produce thousands of rare outcomes)."""
BAR_WIDTH = 40


def status_text(status: JobStatus) -> Text:
    """A status name in its colour."""
    return Text(status.name, style=STATUS_STYLES.get(status, ""))


def jobs_table(jobs: Sequence[IBMQJob]) -> Table:
    """One row per job: id, name, backend, status, creation time (local) and tags."""
    table = new_table("id", "name", "backend", "status", "created", "tags")
    for job in jobs:
        table.add_row(
            job.job_id(),
            job.name() or "",
            job.backend().name,
            status_text(job.status()),
            f"{job.creation_date():%Y-%m-%d %H:%M}",
            ", ".join(job.tags()),
        )
    for column in (0, 2, 3, 4):  # ids are copied into other commands; names and tags may wrap
        table.columns[column].no_wrap = True
    return table


def backends_table(backends: Sequence[tuple[GatewayBackend, BackendStatus]]) -> Table:
    """One row per backend: name, qubits, kind, whether it takes jobs, and its queue."""
    table = new_table("name", "qubits", "simulator", "local", "operational", "pending jobs")
    for column in (1, 5):
        table.columns[column].justify = "right"
    for backend, status in backends:
        table.add_row(
            backend.name,
            str(backend.num_qubits),
            yes_no(backend.simulator),
            yes_no(backend.local),
            _operational(status),
            str(status.pending_jobs),
        )
    return table


def histogram(label: str, counts: Mapping[str, int]) -> RenderableType:
    """Counts of one circuit as horizontal bars: bit string, bar, count, percentage."""
    shots = sum(counts.values())
    title = Text.assemble((label, "bold"), f"  {shots} shots", style="")
    if not counts:
        return Group(title, Text("  no counts: the circuit measures nothing", style="dim"))
    shown = _shown_outcomes(counts)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_column(justify="right")
    grid.add_column(justify="right")
    largest = max(counts.values())
    for bits in shown:
        bar = Bar(largest, 0, counts[bits], width=BAR_WIDTH, color="cyan")
        grid.add_row(bits, bar, str(counts[bits]), f"{100 * counts[bits] / shots:.1f}%")
    parts: list[RenderableType] = [title, Padding(grid, (0, 0, 0, 2), expand=False)]
    hidden = [bits for bits in counts if bits not in shown]
    if hidden:
        rest = sum(counts[bits] for bits in hidden)
        parts.append(Text(f"  … {len(hidden)} more outcomes, {rest} shots", style="dim"))
    return Group(*parts)


def _shown_outcomes(counts: Mapping[str, int]) -> list[str]:
    """Every outcome in bit-string order, or the most frequent ones, most frequent first."""
    if len(counts) <= MAX_OUTCOMES:
        return sorted(counts)
    return sorted(counts, key=lambda bits: (-counts[bits], bits))[:MAX_OUTCOMES]


def new_table(*headers: str) -> Table:
    """An empty table in the commands' one style, with these column headers."""
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        header_style="bold",
    )
    for header in headers:
        table.add_column(header)
    return table


def yes_no(value: bool) -> str:
    """A flag as a table shows it."""
    return "yes" if value else "no"


def _operational(status: BackendStatus) -> Text:
    if status.operational:
        return Text("yes", style="green")
    return Text(f"no ({status.status_msg})", style="red")
