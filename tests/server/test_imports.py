"""qiskit-ibm-runtime (about a second to import) is loaded only by gateways that use it."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# Starts and stops a gateway with the given fake devices, then says whether IBM's client
# was imported.
_SCRIPT = """
import asyncio, sys
from pathlib import Path
from ibmq_gateway.server.ops.app import Gateway
from ibmq_gateway.server.core.settings import Settings

async def main():
    devices = tuple(name for name in sys.argv[2].split(",") if name)
    settings = Settings(address="127.0.0.1:0", state_dir=Path(sys.argv[1]), fake_devices=devices)
    gateway = Gateway(settings)
    await gateway.start()
    await gateway.stop()

if __name__ == "__main__":
    asyncio.run(main())
    print("qiskit_ibm_runtime" in sys.modules)
"""


def _imports_ibm_client(tmp_path: Path, fake_devices: str) -> bool:
    outcome = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path / fake_devices), fake_devices],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return outcome.stdout.strip().splitlines()[-1] == "True"


def test_a_gateway_without_ibm_or_fake_devices_does_not_import_ibms_client(
    tmp_path: Path,
) -> None:
    assert not _imports_ibm_client(tmp_path, "")


def test_fake_devices_do_import_it(tmp_path: Path) -> None:
    assert _imports_ibm_client(tmp_path, "fake_manila")
