"""``ibmq-gateway serve`` runs a gateway; ``ibmq-gateway demo`` shows one at work.

Both take every setting as a flag. What they run needs the ``[server]`` extra, so it is
imported only once ``requires_server_install`` has found it; a client-only install still
lists them and says in one line what to install.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated, Literal

import typer

from ibmq_gateway.client.cli.failures import USAGE, CommandFailure, reports_failures
from ibmq_gateway.server.cli.install import requires_dask_install, requires_server_install
from ibmq_gateway.server.core.settings import Settings

PANEL = "Run a gateway"

# serve and demo take every setting as a flag. Settings.load reads the environment and the
# file itself, so a flag left out is None here and the environment still applies.
Address = Annotated[
    str | None,
    typer.Option(help="host:port to listen on (env IBMQ_GATEWAY_ADDRESS).", show_default=False),
]
StateDir = Annotated[
    Path | None,
    typer.Option(
        help="Directory of the database (env IBMQ_GATEWAY_STATE_DIR).", show_default=False
    ),
]
Database = Annotated[
    str | None,
    typer.Option(
        help="A postgresql:// URL: the database the replicas share; unset: SQLite in the "
        "state directory (env IBMQ_GATEWAY_DATABASE).",
        show_default=False,
    ),
]
Concurrency = Annotated[
    int | None,
    typer.Option(
        help="Jobs each backend runs at once; the rest wait queued (env IBMQ_GATEWAY_CONCURRENCY).",
        show_default=False,
    ),
]
FakeDevices = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated IBM fake devices to offer, empty for none "
        "(env IBMQ_GATEWAY_FAKE_DEVICES).",
        show_default=False,
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(help="Simulation threads (env IBMQ_GATEWAY_WORKERS).", show_default=False),
]
SimulatorCluster = Annotated[
    str | None,
    typer.Option(
        help="A dask.distributed scheduler, tcp://host:8786, whose workers run the local "
        "backends' simulations; needs the [dask] extra (env IBMQ_GATEWAY_SIMULATOR_CLUSTER).",
        show_default=False,
    ),
]
LogLevel = Annotated[
    str | None,
    typer.Option(
        help="DEBUG, INFO, WARNING... of the gateway's own logs (env IBMQ_GATEWAY_LOG_LEVEL).",
        show_default=False,
    ),
]
LogFormat = Annotated[
    Literal["text", "json"] | None,
    typer.Option(
        help="text, or one JSON object per line (env IBMQ_GATEWAY_LOG_FORMAT).",
        show_default=False,
    ),
]
MetricsPort = Annotated[
    int | None,
    typer.Option(
        help="Serve Prometheus metrics on this port, 0: any free one "
        "(env IBMQ_GATEWAY_METRICS_PORT).",
        show_default=False,
    ),
]
MetricsAddress = Annotated[
    str | None,
    typer.Option(
        help="Interface of the metrics endpoint, default 127.0.0.1 "
        "(env IBMQ_GATEWAY_METRICS_ADDRESS).",
        show_default=False,
    ),
]
TlsCert = Annotated[
    Path | None,
    typer.Option(
        help="PEM certificate chain of the port; turns TLS on, needs --tls-key "
        "(env IBMQ_GATEWAY_TLS_CERT).",
        show_default=False,
    ),
]
TlsKey = Annotated[
    Path | None,
    typer.Option(
        help="Unencrypted PEM private key of --tls-cert (env IBMQ_GATEWAY_TLS_KEY).",
        show_default=False,
    ),
]
TlsClientCa = Annotated[
    Path | None,
    typer.Option(
        help="PEM CAs that must have signed every client's certificate: mutual TLS "
        "(env IBMQ_GATEWAY_TLS_CLIENT_CA).",
        show_default=False,
    ),
]
IbmTokenFile = Annotated[
    Path | None,
    typer.Option(
        help="A file holding the team's IBM Quantum API key (env IBMQ_GATEWAY_IBM_TOKEN_FILE; "
        "or the key itself in IBMQ_GATEWAY_IBM_TOKEN, never as a flag).",
        show_default=False,
    ),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", help="A TOML file with any of these settings.", show_default=False),
]


def register(app: typer.Typer) -> None:
    """Adds ``serve`` and ``demo`` to ``app``."""
    app.command(rich_help_panel=PANEL)(serve)
    app.command(rich_help_panel=PANEL)(demo)


@reports_failures
def serve(
    address: Address = None,
    state_dir: StateDir = None,
    database: Database = None,
    concurrency: Concurrency = None,
    fake_devices: FakeDevices = None,
    workers: Workers = None,
    simulator_cluster: SimulatorCluster = None,
    log_level: LogLevel = None,
    log_format: LogFormat = None,
    metrics_port: MetricsPort = None,
    metrics_address: MetricsAddress = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_client_ca: TlsClientCa = None,
    ibm_token_file: IbmTokenFile = None,
    config: ConfigFile = None,
) -> None:
    """Run a gateway until SIGINT or SIGTERM.

    Each setting comes from its flag, else the environment, else the --config file, else
    its default.
    """
    requires_server_install("serve")
    settings = _load_settings(
        config, address=address, state_dir=state_dir, database=database,
        concurrency=concurrency, fake_devices=fake_devices, workers=workers,
        simulator_cluster=simulator_cluster,
        log_level=log_level, log_format=log_format, metrics_port=metrics_port,
        metrics_address=metrics_address, tls_cert=tls_cert,
        tls_key=tls_key, tls_client_ca=tls_client_ca, ibm_token_file=ibm_token_file,
    )  # fmt: skip
    if settings.simulator_cluster:
        requires_dask_install("--simulator-cluster")
    asyncio.run(_serve(settings))


@reports_failures
def demo(
    backend: Annotated[str, typer.Option(help="Backend to run on.")] = "aer_simulator",
    address: Address = None,
    state_dir: StateDir = None,
    concurrency: Concurrency = None,
    fake_devices: FakeDevices = None,
    workers: Workers = None,
    log_level: LogLevel = None,
    log_format: LogFormat = None,
    metrics_port: MetricsPort = None,
    metrics_address: MetricsAddress = None,
    config: ConfigFile = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the gateway's own log as well.")
    ] = False,
) -> None:
    """Start a gateway on a free port, run a Bell job through it and print what happens.

    Only the job's story is printed: each status as the stream delivers it, then the counts.
    The gateway's own log shows its warnings and errors, and everything with --verbose or
    --log-level.
    """
    requires_server_install("demo")
    from ibmq_gateway.server.cli.demo import run_demo

    if not verbose and log_level is None:
        log_level = "WARNING"
    settings = _load_settings(
        config, address=address, state_dir=state_dir, concurrency=concurrency,
        fake_devices=fake_devices, workers=workers, log_level=log_level, log_format=log_format,
        metrics_port=metrics_port, metrics_address=metrics_address,
    )  # fmt: skip
    exit_code = run_demo(settings, backend=backend)
    if exit_code:
        raise typer.Exit(exit_code)


def _load_settings(config: Path | None, **flags: object) -> Settings:
    """Settings from the flags (None: not given), the environment and the file; logs set up.

    Raises:
        CommandFailure: a setting is invalid or the file cannot be read (a usage error).
    """
    from ibmq_gateway.server.ops.logs import configure_logging

    try:
        settings = Settings.load(flags, config_file=config)
        configure_logging(settings.log_level, settings.log_format)
    except (ValueError, OSError) as error:
        raise CommandFailure(str(error), USAGE) from error
    return settings


async def _serve(settings: Settings) -> None:
    from ibmq_gateway.server.ops.app import Gateway
    from ibmq_gateway.server.ops.tls import TlsFileError
    from ibmq_gateway.server.store import StoreError
    from ibmq_gateway.server.store.choice import where

    gateway = Gateway(settings)
    try:
        await gateway.start()
    except TlsFileError as err:
        raise CommandFailure(str(err), USAGE) from err
    except StoreError as err:
        raise CommandFailure(str(err)) from err
    print(f"ibmq-gateway serving on {gateway.address} (state in {where(settings)})", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await gateway.stop()
