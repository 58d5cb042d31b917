"""A submission rate limit that several backends share: at most N sends per sliding window.

IBM Quantum counts job submissions per team (one API key), not per device, so every IBM
backend of the gateway takes from the same RateLimit. Pure bookkeeping on an injected
clock, so the scheduler can ask it before starting a job, estimate when waiting jobs will
go, and tests can move time without sleeping.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class RateLimit:
    """At most ``per_window`` takes in any ``window`` seconds, and none while blocked."""

    def __init__(
        self, per_window: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if per_window < 1:
            raise ValueError(f"a rate limit needs at least 1 take per window, not {per_window}")
        if window <= 0:
            raise ValueError(f"a rate limit's window must be positive, not {window}")
        self.per_window = per_window
        self.window = window
        self._clock = clock
        # Only the newest per_window takes can refuse a take, so older ones are dropped.
        self._taken: deque[float] = deque(maxlen=per_window)
        self._blocked_until = -math.inf

    def now(self) -> float:
        """The limiter's clock; every time it takes or returns is on this clock."""
        return self._clock()

    def try_take(self) -> bool:
        """Records a send now and returns True if the limit allows one now."""
        now = self._clock()
        if self._earliest(now, self._taken) > now:
            return False
        self._taken.append(now)
        return True

    def record(self, moment: float) -> None:
        """Counts a take made elsewhere at ``moment`` (on this clock), e.g. by another replica.

        Takes are recorded in the order they were made; one older than the newest counts as
        the newest, which errs on the side of sending later.
        """
        newest = self._taken[-1] if self._taken else -math.inf
        self._taken.append(max(moment, newest))

    def block_until(self, moment: float) -> None:
        """Allows nothing before ``moment`` (e.g. IBM's Retry-After); a later block wins."""
        self._blocked_until = max(self._blocked_until, moment)

    def next_free(self) -> float:
        """When try_take will next succeed; now if it would succeed now."""
        now = self._clock()
        return self._earliest(now, self._taken)

    def free_times(self, count: int) -> list[float]:
        """When the next ``count`` takes would succeed if each is taken as soon as allowed.

        Each of those takes fills the window for the ones after it, so 5 per minute with
        nothing recent gives five times now, then five a minute later, and so on.
        """
        now = self._clock()
        taken = deque(self._taken, maxlen=self.per_window)
        times = []
        for _ in range(count):
            moment = self._earliest(now, taken)
            taken.append(moment)
            times.append(moment)
        return times

    def _earliest(self, now: float, taken: deque[float]) -> float:
        # A full window frees up when its oldest take falls out of it.
        full_until = taken[0] + self.window if len(taken) == self.per_window else -math.inf
        return max(now, self._blocked_until, full_until)
