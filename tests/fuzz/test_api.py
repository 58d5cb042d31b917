"""The short fuzz run CI makes every time: random and mutated requests to every RPC.

A real gateway on loopback (Aer, SQLite), the users and jobs of ``known``, then a few
hundred calls drawn by hypothesis, each sent over a real channel. Every call must end with
a status the gateway chose; afterwards the gateway still serves, its memory has not run
away, and the store is consistent. ``bench/fuzz_api.py`` is the long run.
"""

from __future__ import annotations

from pathlib import Path

import grpc
from hypothesis import HealthCheck, given, settings

from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from tests.conftest import TEST_TOKEN, gateway_settings
from tests.fuzz import consistency, harness
from tests.fuzz.calls import Call, any_calls
from tests.fuzz.gateway import rss_kib, serving
from tests.fuzz.known import fuzzed, learn

EXAMPLES = 200
"""About 45 s here (4 to 5 calls a second, one at a time; with the gateway's start and
the seeded jobs, about a minute)."""
GROWTH_LIMIT_KIB = 512 * 1024
"""This process holds the gateway, qiskit and hypothesis; a leak per call passes this."""
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_every_rpc_answers_fuzzed_requests_with_a_status_of_its_own(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with EmbeddedGateway(fuzzed(gateway_settings(state))) as gateway:
        known = learn(gateway.address, TEST_TOKEN, state)
        before = rss_kib()
        with grpc.insecure_channel(gateway.address) as channel:

            @FUZZ_SETTINGS
            @given(any_calls(known))
            def answered(call: Call) -> None:
                harness.judge(call, harness.send(channel, call))

            answered()
        assert serving(gateway.address)
        assert rss_kib() - before < GROWTH_LIMIT_KIB
    # Stopped first: a job running now would change between the two reads of the check.
    assert consistency.problems(gateway.settings.sqlite_path) == []
