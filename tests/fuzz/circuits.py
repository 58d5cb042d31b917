"""Circuits as a fuzzer sends them: real programs, odd programs, and broken ones.

OpenQASM 2 and 3 come from a few real programs, edited character by character, and from
templates that go deep (nested blocks and expressions), wide (huge registers) or long (loops
unrolled to millions of operations). QPY comes from real ``qiskit.qpy.dump`` files,
truncated, with bytes flipped or spliced, and with header fields overwritten.
"""

from __future__ import annotations

import functools
import io
import struct

from hypothesis import strategies as st
from qiskit import QuantumCircuit, qpy
from qiskit.circuit import Parameter

from ibmq_gateway.v1 import job_pb2
from tests.fuzz.values import text
from tests.helpers import BELL_QASM2, BELL_QASM3

QASM3_PROGRAMS = (
    BELL_QASM3,
    """OPENQASM 3.0;
include "stdgates.inc";
qubit[3] q;
bit[3] c;
for int i in [0:2] { h q[i]; }
if (c[0]) { x q[1]; }
gate g(theta) a, b { rz(theta) a; cx a, b; }
g(pi / 4) q[0], q[1];
c = measure q;
""",
    """OPENQASM 3.0;
include "stdgates.inc";
input float[64] theta;
qubit q;
bit c;
rx(theta) q;
c = measure q;
""",
)
QASM2_PROGRAMS = (
    BELL_QASM2,
    """OPENQASM 2.0;
include "qelib1.inc";
qreg q[3];
creg c[3];
gate maj a,b,c { cx c,b; cx c,a; ccx a,b,c; }
opaque secret(x) a;
maj q[0],q[1],q[2];
barrier q;
measure q -> c;
if(c==1) x q[0];
""",
)


def _nested_ifs(depth: int) -> str:
    opening = "if (c[0]) { " * depth
    return f"OPENQASM 3.0;\nqubit[1] q;\nbit[1] c;\n{opening}x q[0]; {'} ' * depth}\n"


def _deep_expression(depth: int, version: int) -> str:
    angle = "(" * depth + "0.1" + ")" * depth
    if version == 2:
        return f'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nrx({angle}) q[0];\n'
    return f'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit q;\nrx({angle}) q;\n'


def _wide(qubits: int, version: int) -> str:
    if version == 2:
        return f'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[{qubits}];\nh q;\n'
    return f'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[{qubits}] q;\nh q;\n'


def _long_loop(iterations: int) -> str:
    return (
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit q;\n'
        f"for int i in [0:{iterations}] {{ for int j in [0:{iterations}] {{ x q; }} }}\n"
    )


def _recursive_gate(version: int) -> str:
    header = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\n' if version == 2 else ""
    header = header or 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\n'
    return header + "gate loop a { loop a; }\nloop q[0];\n"


def _many_statements(count: int) -> str:
    return 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit q;\n' + "x q;\n" * count


def _edited(seed: str, edits: list[tuple[int, int, str]]) -> str:
    """``seed`` with each (position, length) span replaced by a piece of text."""
    program = seed
    for position, length, piece in edits:
        at = position % (len(program) + 1)
        program = program[:at] + piece + program[at + length :]
    return program


_PIECES = st.one_of(
    st.sampled_from(["", ";", "{", "}", "(", ")", "[", "]", "\n", "\x00", "qubit[", "pi", "//"]),
    text(8),
)
_EDITS = st.lists(st.tuples(st.integers(0, 400), st.integers(0, 6), _PIECES), max_size=4)
_DEPTHS = st.sampled_from([2, 50, 200, 1000, 5000])
_WIDTHS = st.sampled_from([0, 1, 3, 5, 2_000, 10_000, 1_000_000, 2**40])


def qasm_programs(version: int) -> st.SearchStrategy[str]:
    """OpenQASM 2 or 3 text: real, edited, deep, wide, long or self-referential."""
    seeds = QASM3_PROGRAMS if version == 3 else QASM2_PROGRAMS
    odd = [
        st.builds(_deep_expression, _DEPTHS, st.just(version)),
        st.builds(_wide, _WIDTHS, st.just(version)),
        st.just(_recursive_gate(version)),
    ]
    if version == 3:
        odd += [
            st.builds(_nested_ifs, _DEPTHS),
            st.builds(_long_loop, st.sampled_from([3, 1000, 1_000_000])),
            st.builds(_many_statements, st.sampled_from([10, 5_000])),
        ]
    return st.one_of(
        st.sampled_from(seeds),
        st.builds(_edited, st.sampled_from(seeds), _EDITS),
        *odd,
        text(200),
    )


@functools.cache
def qpy_seeds() -> tuple[bytes, ...]:
    """Real QPY files: a Bell pair, a parameterised circuit, and one with control flow."""
    bell = QuantumCircuit(2, 2, name="bell")
    bell.h(0)
    bell.cx(0, 1)
    bell.measure([0, 1], [0, 1])
    theta = Parameter("θ")
    parametric = QuantumCircuit(1, 1, name="param")
    parametric.rx(theta, 0)
    parametric.measure(0, 0)
    flow = QuantumCircuit(2, 2, name="flow")
    with flow.for_loop(range(3)):
        flow.x(0)
    with flow.if_test((flow.clbits[0], True)):
        flow.x(1)
    flow.measure([0, 1], [0, 1])
    return tuple(_dumped(circuit) for circuit in (bell, parametric.assign_parameters([0.3]), flow))


def _dumped(*circuits: QuantumCircuit) -> bytes:
    buffer = io.BytesIO()
    qpy.dump(list(circuits), buffer)
    return buffer.getvalue()


def _flipped(payload: bytes, flips: list[tuple[int, int]]) -> bytes:
    data = bytearray(payload)
    for position, mask in flips:
        data[position % len(data)] ^= mask or 1
    return bytes(data)


def _overwritten(payload: bytes, offset: int, value: int) -> bytes:
    """``payload`` with a 4-byte big-endian field at ``offset`` set (e.g. qubit counts)."""
    at = offset % max(len(payload) - 4, 1)
    return payload[:at] + struct.pack("!I", value) + payload[at + 4 :]


def _spliced(payload: bytes, at: int, junk: bytes) -> bytes:
    at %= len(payload) + 1
    return payload[:at] + junk + payload[at:]


def qpy_payloads() -> st.SearchStrategy[bytes]:
    """QPY files: real, truncated, bit-flipped, spliced, fields overwritten, or noise."""
    seeds = st.sampled_from(qpy_seeds())
    flips = st.lists(st.tuples(st.integers(0, 4096), st.integers(0, 255)), min_size=1, max_size=4)
    sizes = st.sampled_from([0, 1, 2, 17, 2**16, 2**31 - 1, 2**32 - 1])
    return st.one_of(
        seeds,
        st.builds(lambda seed, end: seed[: end % len(seed)], seeds, st.integers(0, 4096)),
        st.builds(_flipped, seeds, flips),
        st.builds(_overwritten, seeds, st.integers(0, 64), sizes),
        st.builds(_spliced, seeds, st.integers(0, 4096), st.binary(min_size=1, max_size=32)),
        st.builds(lambda seed: seed * 2, seeds),
        st.binary(max_size=200).map(lambda noise: b"QISKIT" + noise),
        st.binary(max_size=200),
    )


def circuits() -> st.SearchStrategy[job_pb2.Circuit]:
    """One Circuit message: any of the three formats, or none set."""
    return st.one_of(
        qasm_programs(3).map(lambda program: job_pb2.Circuit(qasm3=program)),
        qasm_programs(2).map(lambda program: job_pb2.Circuit(qasm2=program)),
        qpy_payloads().map(lambda payload: job_pb2.Circuit(qpy=payload)),
        st.just(job_pb2.Circuit()),
    )
