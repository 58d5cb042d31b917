"""What is alive once a gateway serves stays out of the garbage collector's way.

A gateway holds qiskit, Aer, the protobuf descriptors and its backends' targets: a few
hundred thousand objects that live as long as it does. CPython's full collection walks
every tracked object, and in the watch bench (1,000 streams) one took up to 165 ms: a
pause that every stream, call and commit of the process waited out, and most of the
fan-out's p99. Frozen objects sit in a generation no collection walks (they are still
freed when nothing refers to them). What a gateway allocates once serving (streams,
calls, jobs) stays collectable; young collections run every 10,000 allocations instead
of 700, and since full collections come after so many young ones, none ran during that
bench any more. The last gateway of a process to stop unfreezes the heap and restores the
thresholds, so a process that embeds gateways (the tests, a notebook) collects as before.
"""

from __future__ import annotations

import gc

_serving = 0
"""Gateways of this process that have frozen the heap and not stopped yet."""
_thresholds = gc.get_threshold()
"""The collector's thresholds before the first gateway started."""
YOUNG_THRESHOLD = 10_000
"""Allocations (net of frees) between two young collections; CPython's default is 700."""


def freeze() -> None:
    """Frees the garbage the start left, then freezes everything still alive."""
    global _serving, _thresholds
    if not _serving:
        _thresholds = gc.get_threshold()
    _serving += 1
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *_thresholds[1:])


def thaw() -> None:
    """Undoes one ``freeze``; the last one returns the frozen objects to the collector."""
    global _serving
    _serving = max(0, _serving - 1)
    if not _serving:
        gc.unfreeze()
        gc.set_threshold(*_thresholds)
