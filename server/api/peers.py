"""Who is on the other end of a call, and what one peer may cost: log lines and failures.

A peer is a host, not a connection: a flood spread over many connections from one host
is still one peer. Each table here is bounded however many peers come and go.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

MAX_PEERS = 10_000
"""Peers each table remembers; past it the table starts afresh (forgetting is safe)."""


def peer_host(peer: str) -> str:
    """The address of ``ipv4:10.0.0.1:5000`` without its port (other peers as they are)."""
    return peer.rpartition(":")[0] if peer.startswith(("ipv4:", "ipv6:")) else peer


class PerPeerLog:
    """Warnings rate-limited per peer, so that one client's flood cannot flood the log."""

    def __init__(self, logger: logging.Logger, every: float) -> None:
        self._log = logger
        self._every = every
        self._last: dict[str, float] = {}

    def warning(self, peer: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(peer, -self._every) < self._every:
            return
        if len(self._last) >= MAX_PEERS:
            self._last.clear()
        self._last[peer] = now
        self._log.warning(message, *args)


@dataclass
class _Failures:
    since: float
    count: int = 0


class FailureThrottle:
    """How long to hold a peer's failed call before answering it.

    A peer's first ``free`` failures in a ``window_s`` window are answered at once (a typo
    costs nothing); each further one waits about twice as long as the last, from
    ``first_delay_s`` up to ``max_delay_s`` (jittered down by up to half). A client that
    waits for its answers, as every gRPC client does within its in-flight calls, is thereby
    slowed to a trickle that costs the gateway little; the peer's calls that succeed are
    never held, so no one is locked out.
    """

    def __init__(
        self,
        free: int = 10,
        window_s: float = 60.0,
        first_delay_s: float = 0.05,
        max_delay_s: float = 5.0,
    ) -> None:
        self.free = free
        self._window_s = window_s
        self._first_delay_s = first_delay_s
        self._max_delay_s = max_delay_s
        self._peers: dict[str, _Failures] = {}

    def failed(self, peer: str) -> float:
        """Counts a failure of ``peer``'s; returns the seconds to hold its answer."""
        now = time.monotonic()
        failures = self._peers.get(peer)
        if failures is None or now - failures.since > self._window_s:
            if len(self._peers) >= MAX_PEERS:
                self._peers.clear()
            failures = self._peers[peer] = _Failures(now)
        failures.count += 1
        beyond = failures.count - self.free
        if beyond <= 0:
            return 0.0
        delay = min(self._max_delay_s, self._first_delay_s * 2.0 ** min(beyond - 1, 32))
        # Jittered, so that a flood's held calls do not all come back in one burst.
        return delay * random.uniform(0.5, 1.0)
