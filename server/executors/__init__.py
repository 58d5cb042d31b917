"""Backends the gateway runs jobs on, behind one executor interface (``base``).

Owns: ``base`` (the interface), ``local/`` (Aer and fake devices on this machine) and
``ibm/`` (IBM Quantum's devices); each executor imports ``base``, never the other one.
May import: ``core`` only: executors know circuits and results, not the lifecycle or store.
"""
