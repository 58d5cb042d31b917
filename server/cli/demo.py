"""``ibmq-gateway demo``: a gateway on its embedded defaults running one Bell job.

It starts a real gateway on a free port with a fresh state directory, submits a Bell
circuit through gRPC with the Python client, prints each status the stream delivers with
its time, then the counts.
"""

from __future__ import annotations

import dataclasses
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from ibmq_gateway.server.api.auth import ADMIN_TOKEN_FILE
from ibmq_gateway.server.core.settings import Settings
from ibmq_gateway.server.ops.embedded import EmbeddedGateway


def run_demo(settings: Settings, backend: str = "aer_simulator") -> int:
    """Runs the demo; returns the process exit code."""
    from qiskit import QuantumCircuit, transpile

    from ibmq_gateway.client import GatewayProvider

    with tempfile.TemporaryDirectory(prefix="ibmq-gateway-demo-") as state:
        # The demo's own gateway is private to it: loopback, plaintext, fresh state.
        demo_settings = dataclasses.replace(
            settings,
            address="127.0.0.1:0",
            state_dir=Path(state),
            tls_cert=None,
            tls_key=None,
            tls_client_ca=None,
        )
        with (
            EmbeddedGateway(demo_settings) as gateway,
            GatewayProvider(gateway.address, token=_admin_token(Path(state))) as provider,
        ):
            print(f"gateway listening on {gateway.address} (embedded defaults, state in {state})")
            device = provider.get_backend(backend)
            bell = QuantumCircuit(2, 2, name="bell")
            bell.h(0)
            bell.cx(0, 1)
            bell.measure([0, 1], [0, 1])
            job = device.run(
                transpile(bell, device), shots=2000, job_name="bell", job_tags=["demo"]
            )
            print(f"{_now()}  submitted job {job.job_id()} to {backend}")
            job.wait_for_final_state(timeout=120, callback=_print_status)
            print(f"{_now()}  {job.status().name}")
            print("counts:", dict(sorted(job.result().get_counts().items())))
    return 0


def _admin_token(state_dir: Path) -> str:
    """The token the fresh gateway made for its first admin."""
    return (state_dir / ADMIN_TOKEN_FILE).read_text().strip()


def _print_status(job_id: str, status: Any, job: Any, queue_info: Any = None) -> None:
    position = (
        f" (queue position {queue_info.position})" if queue_info and queue_info.position else ""
    )
    print(f"{_now()}  {status.name}{position}")


def _now() -> str:
    return datetime.now().strftime("%H:%M:%S.%f")[:-3]
