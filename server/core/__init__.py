"""The words every room shares: job records, states, errors and settings.

Owns: ``model`` (immutable records), ``states`` (the lifecycle's states and moves),
``errors`` (domain errors and the one table of their gRPC statuses), ``settings``.
May import: nothing of the gateway's, only the standard library, grpc and the contract.
"""
