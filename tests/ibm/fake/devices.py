"""The fake's devices: IBM fake backends served with their real configuration and calibration."""

from __future__ import annotations

import json
import statistics
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qiskit_aer import AerSimulator
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

# The noise model takes ~0.15 s to build per device; every fake in a test session shares it.
_SIMULATORS: dict[str, AerSimulator] = {}
_SIMULATORS_LOCK = threading.Lock()


@dataclass
class Device:
    """One device as IBM's API shows it: configuration and properties JSON, status, a simulator.

    The JSON comes straight from the files the fake backend was built from (``conf_*.json``,
    ``props_*.json``), so it is the snapshot IBM's API once returned, only renamed.
    """

    name: str
    fake: FakeBackendV2
    configuration: dict[str, Any]
    properties: dict[str, Any]
    online: bool = True
    status_message: str = "active"
    run_lock: threading.Lock = field(default_factory=threading.Lock)  # one job at a time

    @classmethod
    def from_fake(cls, name: str, fake: FakeBackendV2) -> Device:
        directory = Path(fake.dirname)
        configuration = json.loads((directory / fake.conf_filename).read_text())
        properties = json.loads((directory / fake.props_filename).read_text())
        configuration["backend_name"] = properties["backend_name"] = name
        return cls(name, fake, configuration, properties)

    @property
    def num_qubits(self) -> int:
        return int(self.configuration["n_qubits"])

    @property
    def version(self) -> str:
        return str(self.configuration.get("backend_version", "0.0.0"))

    def simulator(self) -> AerSimulator:
        """Aer with this device's noise model, built once per fake device class."""
        key = type(self.fake).__name__
        with _SIMULATORS_LOCK:
            if key not in _SIMULATORS:
                from qiskit_aer import AerSimulator

                _SIMULATORS[key] = AerSimulator.from_backend(self.fake)
            return _SIMULATORS[key]

    def listing(self, queue_length: int, with_wait_times: bool) -> dict[str, Any]:
        """This device's entry in ``GET /backends``."""
        entry: dict[str, Any] = {
            "name": self.name,
            "status": {"name": "online" if self.online else "offline"},
            "is_simulator": False,
            "qubits": self.num_qubits,
            "queue_length": queue_length,
            "processor_type": self.configuration.get("processor_type"),
            "performance_metrics": self._performance_metrics(),
        }
        if not self.online:
            entry["status"]["reason"] = self.status_message
        if clops := self.configuration.get("clops_h"):
            entry["clops"] = {"type": "hardware", "value": clops}
        if with_wait_times:
            wait = queue_length * 5
            entry["wait_time_seconds"] = {"average": wait, "p50": wait, "p95": 2 * wait}
        return entry

    def status(self, queue_length: int) -> dict[str, Any]:
        """``GET /backends/{name}/status``."""
        return {
            "state": self.online,
            "status": self.status_message,
            "message": "" if self.online else self.status_message,
            "length_queue": queue_length,
            "backend_version": self.version,
        }

    def _performance_metrics(self) -> dict[str, Any]:
        """Median readout and two-qubit errors, computed from the calibration snapshot."""
        readout = [
            item["value"]
            for qubit in self.properties.get("qubits", [])
            for item in qubit
            if item.get("name") == "readout_error"
        ]
        two_qubit = [
            (parameter["value"], gate)
            for gate in self.properties.get("gates", [])
            if len(gate.get("qubits", [])) == 2
            for parameter in gate.get("parameters", [])
            if parameter.get("name") == "gate_error"
        ]
        metrics: dict[str, Any] = {}
        if readout:
            metrics["readout_error_median"] = {"value": statistics.median(readout), "unit": ""}
        if two_qubit:
            best_error, best_gate = min(two_qubit, key=lambda pair: pair[0])
            metrics["two_q_error_median"] = {
                "value": statistics.median(error for error, _ in two_qubit),
                "unit": "",
            }
            metrics["two_q_error_best"] = {
                "value": best_error,
                "gate": best_gate["gate"],
                "qubits": best_gate["qubits"],
                "unit": "",
            }
        return metrics
