"""The ibmq-gateway server: a grpc.aio service in front of local and IBM backends.

Its rooms, each importing only the rooms below it (``tool.importlinter`` in pyproject.toml
holds the contracts, ``tests/test_layers.py`` checks them)::

    cli         serve, demo, users, audit: the command line of whoever runs a gateway
    ops         the process: app wiring, logs, metrics, TLS, the embedded gateway
    api         the gRPC edge: servicers, proto <-> domain messages, interceptors, auth
    jobs        the lifecycle: manager, recovery, runs, scheduling, admission, checks
    streams     event fan-out, feeds over the event log, resume and page cursors
    executors   where circuits run: the interface, local/ (Aer) and ibm/ (IBM Quantum)
    store       durable state behind ``JobStore``
    core        records, states, errors and settings that every room shares

``jobs`` and ``streams`` do not import each other, nor do ``executors`` and ``store``.
"""
