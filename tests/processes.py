"""``ibmq-gateway serve`` processes for tests: started on a port, waited for, killed."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import grpc


def free_port() -> int:
    """A port free on loopback now (a process started next can bind it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """An ``ibmq-gateway serve`` process on a free port."""

    def __init__(
        self,
        state_dir: Path,
        port: int,
        *,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        """Starts it with ``env`` added to this environment and waits until it answers;
        ``log`` receives its stderr."""
        self.address = f"127.0.0.1:{port}"
        environ = {**os.environ, "IBMQ_GATEWAY_FAKE_DEVICES": "fake_manila", **(env or {})}
        command = [
            sys.executable,
            "-m",
            "ibmq_gateway.server.cli",
            "serve",
            "--address",
            self.address,
            "--state-dir",
            str(state_dir),
        ]
        with contextlib.ExitStack() as files:
            # The child keeps its own copy of the descriptor; ours closes at once.
            stderr = files.enter_context(log.open("ab")) if log is not None else subprocess.DEVNULL
            self.process = subprocess.Popen(
                command, env=environ, stdout=subprocess.DEVNULL, stderr=stderr
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.kill()
            raise

    def kill(self) -> None:
        """kill -9, and waits for it to be gone."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)

    def _wait_healthy(self) -> None:
        channel = grpc.insecure_channel(self.address)
        grpc.channel_ready_future(channel).result(timeout=60)
        channel.close()

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=30)
