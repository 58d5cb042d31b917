"""Local backends simulated on a ``dask.distributed`` cluster (``serve --simulator-cluster``).

Owns: ``work`` (the function the cluster's workers run: QPY in, a result dict out),
``chunks`` (how a job's circuits split into tasks and merge back), ``cluster`` (the one
connection to the scheduler, its worker count, its loss and return) and ``executor``.
May import: ``executors.base``, ``executors.local`` (the same backends and the same
simulation code, so results match the in-process executor bit for bit) and ``core``.
Nothing here is imported unless the option is set: the ``[server]`` install has no Dask.
"""
