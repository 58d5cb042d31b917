"""Real Dask clusters on 127.0.0.1 for the tests: in one call, or as processes to kill.

``local_cluster`` is ``distributed.LocalCluster`` with two single-threaded worker processes.
``ClusterProcesses`` runs ``dask scheduler`` and ``dask worker`` as subprocesses, so that a
test can kill a worker or the scheduler outright; every process is killed on ``close``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

DASK = Path(sys.executable).with_name("dask")
START_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def local_cluster(workers: int = 2) -> Iterator[str]:
    """A LocalCluster of ``workers`` single-threaded processes; yields its address."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        # Its HTTP server still listens with no dashboard, on 8787 unless told: a port of
        # its own keeps two clusters of one run from clashing there.
        dashboard_address="127.0.0.1:0",
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


class ClusterProcesses:
    """A scheduler and its workers as processes of their own (each its own process group)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self._local = ("127.0.0.1", self.port)
        self._scheduler: subprocess.Popen[bytes] | None = None
        self._workers: list[subprocess.Popen[bytes]] = []

    def start_scheduler(self) -> None:
        """Starts ``dask scheduler`` on the port and waits until it accepts connections."""
        self._scheduler = self._spawn(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-dashboard",
            "--dashboard-address",
            "127.0.0.1:0",
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(self._local, 1):
                return
            time.sleep(0.1)
        raise TimeoutError(f"dask scheduler did not listen on {self.port}")

    def start_workers(self, count: int = 2) -> None:
        """Starts ``count`` single-threaded workers (each under a nanny that restarts it)."""
        for _ in range(count):
            self._workers.append(
                self._spawn(
                    "worker", self.address, "--nthreads", "1", "--host", "127.0.0.1",
                    "--no-dashboard", "--death-timeout", "60",
                )
            )  # fmt: skip

    def kill_scheduler(self) -> None:
        """Kills the scheduler outright (SIGKILL), as a crashed machine would."""
        if self._scheduler is not None:
            _kill(self._scheduler)
            self._scheduler = None

    def close(self) -> None:
        """Kills every process started here, workers first."""
        for worker in self._workers:
            _kill(worker)
        self._workers.clear()
        self.kill_scheduler()

    def _spawn(self, *arguments: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(DASK), *arguments],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def __enter__(self) -> ClusterProcesses:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _kill(process: subprocess.Popen[bytes]) -> None:
    # A worker's nanny has a child process: the whole group goes.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
