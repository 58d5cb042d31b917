"""Whether this install can run a gateway: the ``[server]`` extra's packages are present.

The ``ibmq-gateway`` command is installed with the client alone too, so the server's
commands look before they import what they run, and say in one line what is missing.
"""

from __future__ import annotations

from importlib.util import find_spec

from ibmq_gateway.client.cli.failures import USAGE, CommandFailure

SERVER_PACKAGES = (
    "alembic",
    "grpc_health",
    "grpc_reflection",
    "prometheus_client",
    "qiskit_aer",
    "qiskit_ibm_runtime",
    "qiskit_qasm3_import",
    "sqlalchemy",
)
"""The import names of what ``pip install 'ibmq-gateway[server]'`` adds to the client."""


def requires_server_install(command: str) -> None:
    """Fails ``command`` with a usage error when the server's packages are not installed.

    Raises:
        CommandFailure: a package of the ``[server]`` extra is missing.
    """
    missing = [name for name in SERVER_PACKAGES if find_spec(name) is None]
    if missing:
        raise CommandFailure(
            f"{command} needs the gateway's server packages (missing: {', '.join(missing)}); "
            "install them with: pip install 'ibmq-gateway[server]'",
            USAGE,
        )


def requires_dask_install(option: str) -> None:
    """Fails a command given ``option`` when the ``[dask]`` extra is not installed.

    Raises:
        CommandFailure: dask or distributed is missing.
    """
    missing = [name for name in ("dask", "distributed") if find_spec(name) is None]
    if missing:
        raise CommandFailure(
            f"{option} needs Dask (missing: {', '.join(missing)}); "
            "install it with: pip install 'ibmq-gateway[dask]'",
            USAGE,
        )
