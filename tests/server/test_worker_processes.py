"""Worker processes: a parser's runs below the gateway's priority, a simulator's at it."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

import pytest

from ibmq_gateway.server.core.worker_processes import follow_gateway, worker_context
from ibmq_gateway.server.jobs.circuit_parser import PARSER_NICENESS

# The kernel's ceiling: a niceness never goes past it.
_LOWEST_PRIORITY = 19


@pytest.mark.parametrize("niceness", [0, PARSER_NICENESS])
def test_a_worker_runs_as_far_below_the_gateway_as_its_pool_asks(niceness: int) -> None:
    gateway_niceness = os.nice(0)
    with ProcessPoolExecutor(
        1,
        mp_context=worker_context(),
        initializer=follow_gateway,
        initargs=(os.getpid(), niceness),
    ) as pool:
        worker_niceness = pool.submit(os.nice, 0).result(timeout=60)

    assert worker_niceness == min(gateway_niceness + niceness, _LOWEST_PRIORITY)
    assert os.nice(0) == gateway_niceness  # the gateway's own priority is untouched
