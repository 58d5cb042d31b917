"""The IBM executor: gateway jobs on IBM Quantum's devices with the team's one API key.

Owns: ``executor`` (the interface's IBM side), ``sending`` (each job sent once), ``poller``
and ``jobs`` (following jobs at IBM), ``devices``, ``results``, ``errors``, and ``client``,
``lanes``, ``reading`` and ``records`` (qiskit-ibm-runtime's calls, off the event loop).
May import: ``executors.base`` and ``core``; qiskit-ibm-runtime only in client, lanes, reading
and errors.
"""
