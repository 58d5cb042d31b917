"""Fault injection: explicit, counted misbehaviour of routes, consumed in order."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.ibm.fake.wire import Response, api_error

if TYPE_CHECKING:
    from collections.abc import Collection

    from tests.ibm.fake.jobs import JobEnding


@dataclass
class _Fault:
    """One armed fault on one route; ``remaining`` None means until cleared."""

    remaining: int | None
    response: Response | None = None  # what to answer instead of the real handler
    delay: float = 0.0  # seconds to hold the request before handling it

    def use(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1

    @property
    def spent(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


@dataclass
class Faults:
    """Armed faults per route name (such as ``"GET /jobs/{id}"``) and per future job."""

    routes: Collection[str]
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _answers: dict[str, list[_Fault]] = field(default_factory=dict)
    _delays: dict[str, list[_Fault]] = field(default_factory=dict)
    _lost_answers: dict[str, list[_Fault]] = field(default_factory=dict)
    _endings: deque[JobEnding] = field(default_factory=deque)

    def answer(self, route: str, response: Response, times: int | None) -> None:
        self._arm(self._answers, route, _Fault(times, response=response))

    def fail(self, route: str, times: int, status: int, message: str) -> None:
        self.answer(route, api_error(status, message), times)

    def rate_limit(self, route: str, times: int, retry_after: int) -> None:
        response = api_error(429, "Too many requests", code=1202)
        headers = {**response.headers, "Retry-After": str(retry_after)}
        self.answer(route, Response(429, response.body, headers=headers), times)

    def drop(self, route: str, times: int) -> None:
        self.answer(route, Response(0, drop=True), times)

    def lose_answer(self, route: str, times: int) -> None:
        self._arm(self._lost_answers, route, _Fault(times))

    def answer_lost(self, route: str | None) -> bool:
        """Whether this request's answer is to be lost after it was handled."""
        if route is None:
            return False
        with self._lock:
            return self._consume(self._lost_answers, route) is not None

    def delay(self, route: str, seconds: float, times: int | None) -> None:
        self._arm(self._delays, route, _Fault(times, delay=seconds))

    def end_jobs(self, ending: JobEnding, count: int) -> None:
        with self._lock:
            self._endings.extend([ending] * count)

    def take(self, route: str | None) -> tuple[float, Response | None]:
        """Consume what is armed for one request: how long to hold it, what to answer."""
        if route is None:
            return 0.0, None
        with self._lock:
            delay = self._consume(self._delays, route)
            answer = self._consume(self._answers, route)
        return (delay.delay if delay else 0.0), (answer.response if answer else None)

    def take_job_ending(self) -> JobEnding | None:
        with self._lock:
            return self._endings.popleft() if self._endings else None

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
            self._delays.clear()
            self._lost_answers.clear()
            self._endings.clear()

    def _arm(self, table: dict[str, list[_Fault]], route: str, fault: _Fault) -> None:
        # A typo in a route name would silently arm nothing; refuse it instead.
        if route not in self.routes:
            raise ValueError(f"unknown route {route!r}; routes are {sorted(self.routes)}")
        with self._lock:
            table.setdefault(route, []).append(fault)

    @staticmethod
    def _consume(table: dict[str, list[_Fault]], route: str) -> _Fault | None:
        queue = table.get(route)
        if not queue:
            return None
        fault = queue[0]
        fault.use()
        if fault.spent:
            queue.pop(0)
        return fault
