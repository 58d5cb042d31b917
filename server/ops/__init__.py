"""The gateway as a process: wiring every room together and running it.

Owns: ``app`` (store, executors, manager and the gRPC server around them), ``embedded``
(a gateway on a background thread), ``logs``, ``metrics`` and ``tls``.
May import: every room below it; nothing imports ``ops`` but ``cli``.
"""
