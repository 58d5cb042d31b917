"""The local backends: Aer's ideal simulator and IBM fake devices, described as ``BackendInfo``.

Fake devices come from ``qiskit_ibm_runtime.fake_provider``: each carries a snapshot of a real
device's calibration (one snapshot; fake devices have no calibration history), and runs on Aer
with the noise model built from that snapshot.

Measured on a 2-core machine: importing ``qiskit_ibm_runtime`` takes about 0.75 s, so it is
imported only when fake devices are listed. Loading a device's target takes about 3 ms for a
5-qubit device and 0.13 s for a 127-qubit one; building its noisy simulator takes 0.13 s and
1.3 s respectively, so simulators are built on first use (see ``LocalExecutor``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import qiskit_aer
from qiskit_aer import AerSimulator

from ibmq_gateway.server.executors.base import BackendInfo

if TYPE_CHECKING:
    from collections.abc import Sequence

    from qiskit.providers import BackendV2

AER_SIMULATOR = "aer_simulator"
DEFAULT_FAKE_DEVICES: tuple[str, ...] = ("fake_manila", "fake_lima", "fake_brisbane", "fake_torino")
"""Two 5-qubit devices, a 127-qubit Eagle (ECR) and a 133-qubit Heron (CZ)."""
AER_MAX_CIRCUITS = 1000
"""Aer sets no limit on circuits per run; the gateway bounds a job's size."""


def aer_backend_info() -> BackendInfo:
    """Describes Aer's ideal simulator.

    Its target supports every standard gate on any qubits. Its width is what Aer reports for
    the statevector method on this machine: the most qubits whose state fits in memory (30
    with 24 GB), so it differs between machines.
    """
    simulator = AerSimulator()
    configuration = simulator.configuration()
    return BackendInfo(
        name=AER_SIMULATOR,
        description="Aer's ideal simulator (no noise), on the gateway's machine",
        version=qiskit_aer.__version__,
        simulator=True,
        local=True,
        target=simulator.target,
        max_shots=int(configuration.max_shots),
        max_circuits=AER_MAX_CIRCUITS,
        has_properties=False,
    )


def load_fake_devices(names: Sequence[str]) -> dict[str, BackendV2]:
    """Instantiates IBM fake devices by name, importing qiskit-ibm-runtime only if needed.

    Args:
        names: Device names such as ``"fake_manila"``.

    Returns:
        Each name's fake device, in the given order.

    Raises:
        ValueError: a name is not a fake device of the installed qiskit-ibm-runtime.
    """
    if not names:
        return {}
    # Imported here: it takes about 0.75 s, paid only when fake devices are listed.
    from qiskit_ibm_runtime import fake_provider

    classes = {
        _device_name(attribute): getattr(fake_provider, attribute)
        for attribute in dir(fake_provider)
        if re.fullmatch(r"Fake[A-Z][a-z]+(V2)?", attribute)
    }
    unknown = [name for name in names if name not in classes]
    if unknown:
        raise ValueError(
            f"Unknown fake device(s) {', '.join(unknown)}; "
            f"qiskit-ibm-runtime offers {', '.join(sorted(classes))}."
        )
    return {name: classes[name]() for name in names}


def fake_backend_info(device: BackendV2) -> BackendInfo:
    """Describes an IBM fake device with its real target (coupling map, gates, errors).

    Args:
        device: A fake device from ``qiskit_ibm_runtime.fake_provider``.

    Returns:
        The backend as the gateway offers it.
    """
    configuration = device.configuration()
    return BackendInfo(
        name=device.name,
        description=(
            f"{device.num_qubits}-qubit IBM fake device: a calibration snapshot of "
            f"{device.name.removeprefix('fake_')}, simulated by Aer with its noise"
        ),
        version=str(device.backend_version),
        simulator=True,
        local=True,
        target=device.target,
        max_shots=int(configuration.max_shots),
        max_circuits=int(configuration.max_experiments),
        has_properties=True,
    )


def fake_properties(device: BackendV2) -> dict[str, Any]:
    """The device's calibration as a JSON-serialisable ``BackendProperties`` dict.

    Args:
        device: A fake device from ``qiskit_ibm_runtime.fake_provider``.

    Returns:
        The dict, with dates as ISO 8601 strings.
    """
    properties: dict[str, Any] = _jsonable(device.properties().to_dict())
    return properties


def _device_name(class_name: str) -> str:
    # FakeManilaV2 -> fake_manila: the name the device itself reports.
    return "fake_" + class_name.removeprefix("Fake").removesuffix("V2").lower()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value
