"""A serving gateway keeps what it holds out of the collector's walks, and gives it back."""

from __future__ import annotations

import gc
from pathlib import Path

from ibmq_gateway.server.ops import heap
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from tests.conftest import gateway_settings


def test_a_serving_gateway_freezes_its_heap_and_its_stop_thaws_it(tmp_path: Path) -> None:
    thresholds = gc.get_threshold()
    with EmbeddedGateway(gateway_settings(tmp_path / "state")):
        assert gc.get_freeze_count() > 10_000  # qiskit, Aer, the backends: far more
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, *thresholds[1:])
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds


def test_the_heap_stays_frozen_until_the_last_gateway_of_the_process_stops(
    tmp_path: Path,
) -> None:
    thresholds = gc.get_threshold()
    with EmbeddedGateway(gateway_settings(tmp_path / "first")):
        with EmbeddedGateway(gateway_settings(tmp_path / "second")):
            pass
        # Frozen objects still go when nothing refers to them; the rest stay frozen.
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds
