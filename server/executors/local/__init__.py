"""The local executor: Aer's ideal simulator and IBM's fake devices, on this machine.

Owns: ``catalog`` (which local backends exist and their targets) and ``executor`` (runs
a job's circuits in worker processes, off the event loop).
May import: ``executors.base`` and ``core``.
"""
