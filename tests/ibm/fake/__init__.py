"""A loopback fake of IBM Quantum Platform for ``qiskit-ibm-runtime``; see ``FakeIBM``."""

from tests.ibm.fake.server import FakeIBM, RecordedRequest

__all__ = ["FakeIBM", "RecordedRequest"]
