"""The ``serve`` processes of one chaos run, on one store: started, killed, started again."""

from __future__ import annotations

from pathlib import Path

from ibmq_gateway.server.core.settings import Settings
from tests.processes import Served, free_port

TOKEN = "igw_chaos-admin-token"
"""The first admin's token of the run's gateways; every client call sends it."""


class Fleet:
    """``replicas`` gateways, each on its own port and state directory, all kept over kills.

    With ``database`` (a PostgreSQL URL) they share it; without, one gateway keeps SQLite
    in its state directory.
    """

    def __init__(self, root: Path, replicas: int = 1, database: str | None = None) -> None:
        if replicas > 1 and not database:
            raise ValueError("several replicas need a PostgreSQL database")
        self._root = root
        self._database = database or ""
        self.ports = [free_port() for _ in range(replicas)]
        self._served: list[Served | None] = [None] * replicas
        self.restarts = 0

    @property
    def size(self) -> int:
        return len(self.ports)

    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.ports]

    def state_dir(self, index: int) -> Path:
        return self._root / f"gateway-{index}"

    def log(self, index: int) -> Path:
        """Where gateway ``index`` writes its stderr, every start appended."""
        return self._root / f"gateway-{index}.log"

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file of the run (None on PostgreSQL)."""
        if self._database:
            return None
        return Settings(state_dir=self.state_dir(0)).sqlite_path

    def start(self, index: int) -> None:
        """Starts gateway ``index`` on its port and state, and waits until it answers."""
        if self._served[index] is not None:
            self.restarts += 1
        self._served[index] = Served(
            self.state_dir(index), self.ports[index], env=self._environ(), log=self.log(index)
        )

    def _environ(self) -> dict[str, str]:
        return {
            "IBMQ_GATEWAY_BOOTSTRAP_TOKEN": TOKEN,
            "IBMQ_GATEWAY_DATABASE": self._database,
            "IBMQ_GATEWAY_HEARTBEAT_INTERVAL": "1",
            # The developer's shell may name TLS files; the run's clients speak plaintext.
            "IBMQ_GATEWAY_TLS_CERT": "",
            "IBMQ_GATEWAY_TLS_KEY": "",
            "IBMQ_GATEWAY_TLS_CLIENT_CA": "",
        }

    def kill(self, index: int) -> None:
        """kill -9 of gateway ``index`` (nothing when it is not running)."""
        served = self._served[index]
        if served is not None:
            served.kill()

    def close(self) -> None:
        """Kills every gateway still running."""
        for index in range(self.size):
            self.kill(index)
