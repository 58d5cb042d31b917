"""The ``sampler`` program: decode a job's params, simulate them, encode the result as IBM does.

Params arrive RuntimeEncoder-encoded (QPY circuits, ``np.save`` arrays); the result goes back
as one RuntimeEncoder JSON string: ``PrimitiveResult`` of ``SamplerPubResult`` of ``DataBin`` of
``BitArray`` per classical register, with execution spans in its metadata as on hardware.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from qiskit import QuantumCircuit
from qiskit.primitives import BackendSamplerV2
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit_ibm_runtime import RuntimeDecoder, RuntimeEncoder
from qiskit_ibm_runtime.execution_span import DoubleSliceSpan, ExecutionSpans

if TYPE_CHECKING:
    from qiskit.primitives import PrimitiveResult

    from tests.ibm.fake.devices import Device

DEFAULT_SHOTS = 4096  # IBM's default when neither the pub nor the options say


class InvalidParams(ValueError):
    """The job's params are not a sampler input the fake can run (answered with a 400)."""


@dataclass(frozen=True)
class SamplerWork:
    pubs: list[SamplerPub]
    seed: int | None

    @property
    def shots(self) -> int:
        return sum(pub.shots or 0 for pub in self.pubs)


def parse(raw_params: Any, device: Device) -> SamplerWork:
    """Decode and check a job's ``params`` the way the service validates a submission."""
    try:
        params = json.loads(json.dumps(raw_params), cls=RuntimeDecoder)
        options = params.get("options") or {}
        default_shots = params.get("shots") or options.get("default_shots") or DEFAULT_SHOTS
        pubs = [_coerce(pub, default_shots) for pub in params["pubs"]]
    except InvalidParams:
        raise
    except Exception as error:
        raise InvalidParams(f"Invalid sampler params: {error}") from error
    for pub in pubs:
        if pub.circuit.num_qubits > device.num_qubits:
            raise InvalidParams(
                f"Circuit has {pub.circuit.num_qubits} qubits; {device.name} has "
                f"{device.num_qubits}."
            )
    seed = (options.get("simulator") or {}).get("seed_simulator")
    return SamplerWork(pubs, seed)


def _coerce(pub: Any, default_shots: int) -> SamplerPub:
    # The spec allows a bare circuit or [circuit, parameter values, shots]; the client sends the
    # latter with QPY circuits. OpenQASM strings are allowed by the spec but not run here.
    parts = pub if isinstance(pub, list) else [pub]
    if not isinstance(parts[0], QuantumCircuit):
        raise InvalidParams("Only QPY-encoded circuits are supported by the fake.")
    shots = parts[2] if len(parts) > 2 and parts[2] is not None else default_shots
    return SamplerPub.coerce((parts[0], *parts[1:2]), shots)


def run(work: SamplerWork, device: Device) -> str:
    """Simulate on Aer with the device's noise; the encoded result text for ``/results``."""
    start = datetime.now(UTC)
    options: dict[str, Any] = {"seed_simulator": work.seed} if work.seed is not None else {}
    sampler = BackendSamplerV2(backend=device.simulator(), options=options)
    result = sampler.run(work.pubs).result()
    return json.dumps(_with_execution_spans(result, work, start), cls=RuntimeEncoder)


def _with_execution_spans(
    result: PrimitiveResult[Any], work: SamplerWork, start: datetime
) -> PrimitiveResult[Any]:
    """Add the ``metadata["execution"]["execution_spans"]`` hardware results carry."""
    from qiskit.primitives import PrimitiveResult

    slices = {
        index: (
            (*pub.shape, pub.shots or 0),
            slice(0, math.prod(pub.shape)),
            slice(0, pub.shots or 0),
        )
        for index, pub in enumerate(work.pubs)
    }
    span = DoubleSliceSpan(start, datetime.now(UTC), slices)
    metadata = {**result.metadata, "execution": {"execution_spans": ExecutionSpans([span])}}
    return PrimitiveResult(list(result), metadata=metadata)
