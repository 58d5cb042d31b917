"""IBM sampler results converted to legacy Results, checked against what Aer itself reports.

The bit arrays are built from the memory of a real Aer run, so the converted result must match
that run's counts, memory and headers exactly.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.exceptions import QiskitError
from qiskit.primitives import (
    BackendSamplerV2,
    BitArray,
    DataBin,
    PrimitiveResult,
    SamplerPubResult,
)
from qiskit_aer import AerSimulator
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from ibmq_gateway.server.executors.ibm.results import sampler_to_result
from tests.ibm.helpers import sampler_bell

if TYPE_CHECKING:
    from collections.abc import Callable

    from qiskit.result import Result

SHOTS = 300
SEED = 1234


def measure_all() -> QuantumCircuit:
    circuit = QuantumCircuit(3, name="measure_all")
    circuit.h(range(3))
    circuit.measure_all()
    return circuit


def two_registers() -> QuantumCircuit:
    a, b = ClassicalRegister(2, "a"), ClassicalRegister(3, "b")
    circuit = QuantumCircuit(QuantumRegister(4, "q"), a, b, name="two", metadata={"tag": 7})
    circuit.h([0, 2])
    circuit.x(3)
    circuit.measure([0, 1, 2, 3], [b[2], a[0], b[0], a[1]])
    return circuit


def wide(size: int) -> Callable[[], QuantumCircuit]:
    def build() -> QuantumCircuit:
        circuit = QuantumCircuit(size, size, name=f"wide_{size}")
        circuit.h(range(size))
        circuit.x(size - 1)
        circuit.measure(range(size), list(reversed(range(size))))
        return circuit

    return build


def no_clbits() -> QuantumCircuit:
    circuit = QuantumCircuit(2, name="no_clbits")
    circuit.h(0)
    circuit.cx(0, 1)
    return circuit


BUILDERS = [measure_all, two_registers, wide(10), wide(70), no_clbits]


def run_aer(circuits: list[QuantumCircuit]) -> Result:
    return AerSimulator().run(circuits, shots=SHOTS, seed_simulator=SEED, memory=True).result()


def pub_from_memory(circuit: QuantumCircuit, memory: list[str]) -> SamplerPubResult:
    """The pub IBM's sampler would return for these shots: one bit array per register."""
    arrays = {
        register.name: BitArray.from_samples(
            [shot.split(" ")[position] for shot in memory], num_bits=register.size
        )
        for position, register in enumerate(reversed(circuit.cregs))
    }
    return SamplerPubResult(DataBin(**arrays), metadata={"shots": SHOTS})


def convert(circuits: list[QuantumCircuit], reference: Result, memory: bool = True) -> Result:
    pubs = [
        pub_from_memory(circuit, reference.get_memory(index) if circuit.cregs else [])
        for index, circuit in enumerate(circuits)
    ]
    return sampler_to_result(
        PrimitiveResult(pubs, metadata={"version": 2}),
        circuits,
        backend_name="ibm_fake",
        backend_version="2",
        job_id="job-1",
        memory=memory,
    )


def assert_same_as_aer(result: Result, reference: Result, circuits: list[QuantumCircuit]) -> None:
    assert len(result.results) == len(circuits)
    for index, circuit in enumerate(circuits):
        ours, theirs = result.results[index], reference.results[index]
        assert (ours.shots, ours.success, ours.header) == (theirs.shots, True, theirs.header)
        if not circuit.cregs:
            assert ours.data.to_dict() == theirs.data.to_dict() == {}
            continue
        assert result.get_counts(index) == reference.get_counts(index)
        assert result.get_memory(index) == reference.get_memory(index)


@pytest.mark.parametrize("build", BUILDERS, ids=lambda build: build().name)
def test_one_circuit_reads_as_aer_reports_it(build: Callable[[], QuantumCircuit]) -> None:
    circuits = [build()]
    reference = run_aer(circuits)
    assert_same_as_aer(convert(circuits, reference), reference, circuits)


def test_several_circuits_in_one_job_keep_their_order() -> None:
    circuits = [build() for build in BUILDERS]
    reference = run_aer(circuits)
    result = convert(circuits, reference)
    assert_same_as_aer(result, reference, circuits)
    assert [experiment.header["name"] for experiment in result.results] == [
        circuit.name for circuit in circuits
    ]
    assert (result.backend_name, result.job_id, result.success) == ("ibm_fake", "job-1", True)


def test_registers_read_last_declared_leftmost_with_bit_zero_rightmost() -> None:
    circuit = QuantumCircuit(
        QuantumRegister(3), ClassicalRegister(2, "a"), ClassicalRegister(1, "b")
    )
    data = DataBin(a=BitArray.from_samples([1, 2], num_bits=2), b=BitArray.from_samples([1, 0]))
    primitive = PrimitiveResult([SamplerPubResult(data)])
    result = sampler_to_result(
        primitive, [circuit], backend_name="b", backend_version="1", job_id="j", memory=True
    )
    assert result.get_memory(0) == ["1 01", "0 10"]
    assert result.get_counts(0) == {"1 01": 1, "0 10": 1}
    assert result.results[0].data.counts == {"0x5": 1, "0x2": 1}


def test_memory_is_left_out_unless_asked_for() -> None:
    circuits = [two_registers()]
    reference = run_aer(circuits)
    result = convert(circuits, reference, memory=False)
    assert result.get_counts(0) == reference.get_counts(0)
    with pytest.raises(QiskitError, match="No memory"):
        result.get_memory(0)


def test_a_register_missing_from_the_pub_is_an_error() -> None:
    circuit = two_registers()
    data = DataBin(a=BitArray.from_samples(["01"], num_bits=2))
    with pytest.raises(ValueError, match="no data for register 'b' of circuit 0"):
        sampler_to_result(
            PrimitiveResult([SamplerPubResult(data)]),
            [circuit],
            backend_name="b",
            backend_version="1",
            job_id="j",
            memory=False,
        )


def test_a_real_sampler_result_from_a_noisy_fake_device() -> None:
    device = FakeManilaV2()
    circuit = sampler_bell(device)
    sampler = BackendSamplerV2(
        backend=AerSimulator.from_backend(device), options={"seed_simulator": SEED}
    )
    primitive = sampler.run([circuit], shots=1000).result()
    result = sampler_to_result(
        primitive, [circuit], backend_name=device.name, backend_version="2", job_id="j", memory=True
    )
    counts = result.get_counts(0)
    assert set(counts) <= {"00", "01", "10", "11"}
    assert sum(counts.values()) == 1000 == result.results[0].shots
    assert counts == primitive[0].data.meas.get_counts()
    assert Counter(result.get_memory(0)) == counts
    assert result.results[0].header["n_qubits"] == device.num_qubits
