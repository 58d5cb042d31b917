"""What the transport and stream tests need around real gateways: users, the RPC log, pruning.

Nothing here stands in for the gateway: the tests run real ones and look at them from the
outside, through their RPC log (one record per finished call: method, status, principal) and
through their store, as an operator would.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from ibmq_gateway.client._rpc import ApiClient
from ibmq_gateway.server.api.auth import new_token, token_digest
from ibmq_gateway.server.core.model import User
from ibmq_gateway.server.ops.embedded import EmbeddedGateway
from tests.helpers import Stubs, connect


@dataclass(frozen=True)
class Rpc:
    """One finished call, as the gateway's RPC log reports it."""

    method: str
    code: str
    principal: str


class RpcLog(logging.Handler):
    """Collects the gateway's RPC log records as they are written (from any thread)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._calls: list[Rpc] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        fields = vars(record)
        call = Rpc(fields["method"], fields["code"], fields["principal"])
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()

    def codes(self, method: str, principal: str) -> list[str]:
        """The status codes of ``principal``'s finished ``method`` calls, as logged."""
        with self._changed:
            return [c.code for c in self._calls if (c.method, c.principal) == (method, principal)]

    def wait_for(
        self, method: str, code: str, principal: str, count: int = 1, timeout: float = 30
    ) -> list[str]:
        """Waits until ``count`` such calls ended with ``code``; returns every code of them.

        An aborted call reaches the client before its log record is written, so tests wait
        for the record rather than assume it is there.
        """
        with self._changed:
            logged = self._changed.wait_for(
                lambda: self.codes(method, principal).count(code) >= count, timeout
            )
        codes = self.codes(method, principal)
        assert logged, f"not {count} x {method} {code} by {principal} in {codes}"
        return codes


@dataclass(frozen=True)
class Caller:
    """Someone with a token of their own: raw stubs and the client's transport, both with it."""

    name: str
    token: str
    stubs: Stubs
    api: ApiClient


def add_user(gateway: EmbeddedGateway, name: str) -> str:
    """Adds a (non-admin) user to the gateway's store; returns their token."""
    assert gateway.gateway is not None
    token = new_token()
    user = User(name=name, hub="h", group="g", project="p", created=datetime.now(UTC))
    gateway.call(gateway.gateway.store.add_user(user, token_digest(token)))
    return token


@contextmanager
def caller(gateway: EmbeddedGateway, name: str = "follower") -> Iterator[Caller]:
    """A new user of ``gateway``, so that their calls stand out in its RPC log."""
    token = add_user(gateway, name)
    stubs, api = connect(gateway.address, token), ApiClient(gateway.address, token)
    try:
        yield Caller(name, token, stubs, api)
    finally:
        api.close()
        stubs.close()


def prune_log(gateway: EmbeddedGateway) -> int:
    """Makes the gateway drop every event but each job's latest; returns how many went."""
    assert gateway.gateway is not None
    pruned: int = gateway.call(gateway.gateway.store.prune_events(datetime.now(UTC)))
    return pruned
