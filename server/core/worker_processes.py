"""Worker processes of the gateway: how they start, and how they end with it.

Workers are forked from one fork server per gateway process, never from the gateway itself:
Aer's OpenMP runtime and gRPC's threads do not survive a fork, and spawning a fresh
interpreter costs 0.7 s per worker where a fork costs about 20 ms. The fork server imports
what every pool asked for before it started, so each worker begins with qiskit loaded.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

GATEWAY_CHECK_S = 2.0
"""How often a worker checks that the gateway process still exists."""
_preloaded: list[str] = []
"""Modules the fork server imports when it starts, from every pool of this process."""


def worker_context(*preload: str) -> BaseContext:
    """The start method for a pool whose workers need ``preload`` imported.

    The fork server is one per process and starts with the first pool's first worker: a
    module asked for after that is imported by each worker instead, once.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    _preloaded.extend(module for module in preload if module not in _preloaded)
    context.set_forkserver_preload(list(_preloaded))
    return context


def follow_gateway(gateway_pid: int, niceness: int = 0) -> None:
    """Pool initializer: a watch that ends the new worker once the gateway is gone.

    ``niceness``: how far below the gateway's priority the worker runs (``os.nice``).
    """
    if niceness:
        os.nice(niceness)
    threading.Thread(
        target=_exit_without, args=(gateway_pid,), name="follow-gateway", daemon=True
    ).start()


def _exit_without(gateway_pid: int) -> None:
    # A gateway killed outright never shuts its pools down, and their workers would wait for
    # work forever (keeping the fork server alive too). Their parent is the fork server, so
    # the only sign of the gateway is its process id.
    while True:
        time.sleep(GATEWAY_CHECK_S)
        try:
            os.kill(gateway_pid, 0)
        except ProcessLookupError:
            os._exit(1)
