"""Worker processes run below the gateway's priority, so the event loop keeps its CPU."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

from ibmq_gateway.server.core.worker_processes import (
    WORKER_NICENESS,
    follow_gateway,
    worker_context,
)

# The kernel's ceiling: a niceness never goes past it.
_LOWEST_PRIORITY = 19


def test_a_worker_runs_niced_below_the_gateway() -> None:
    gateway_niceness = os.nice(0)
    with ProcessPoolExecutor(
        1, mp_context=worker_context(), initializer=follow_gateway, initargs=(os.getpid(),)
    ) as pool:
        worker_niceness = pool.submit(os.nice, 0).result(timeout=60)

    assert worker_niceness == min(gateway_niceness + WORKER_NICENESS, _LOWEST_PRIORITY)
    assert os.nice(0) == gateway_niceness  # the gateway's own priority is untouched
