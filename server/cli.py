"""The ``ibmq-gateway`` command: ``serve`` runs a gateway, ``demo`` shows one at work."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from ibmq_gateway.server.logs import configure_logging
from ibmq_gateway.server.settings import Settings


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ibmq-gateway`` command."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.load(_flags(args), config_file=args.config)
        configure_logging(settings.log_level, settings.log_format)
    except (ValueError, OSError) as error:
        print(f"ibmq-gateway: {error}", file=sys.stderr)
        return 2
    if args.command == "demo":
        from ibmq_gateway.server.demo import run_demo

        return run_demo(settings, backend=args.backend)
    return asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> int:
    from ibmq_gateway.server.app import Gateway

    gateway = Gateway(settings)
    await gateway.start()
    print(f"ibmq-gateway serving on {gateway.address} (state in {settings.state_dir})", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await gateway.stop()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ibmq-gateway", description="A gRPC gateway for quantum circuit jobs."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a gateway until SIGINT or SIGTERM")
    demo = commands.add_parser(
        "demo", help="start a gateway on a free port, run a Bell job through it, print it"
    )
    demo.add_argument("--backend", default="aer_simulator", help="backend to run on")
    for command in (serve, demo):
        _add_settings_flags(command)
    return parser


def _add_settings_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", help="host:port to listen on [IBMQ_GATEWAY_ADDRESS]")
    parser.add_argument(
        "--state-dir", type=Path, help="directory of the database [IBMQ_GATEWAY_STATE_DIR]"
    )
    parser.add_argument(
        "--concurrency", type=int, help="jobs each backend runs at once [IBMQ_GATEWAY_CONCURRENCY]"
    )
    parser.add_argument(
        "--fake-devices",
        help="comma-separated IBM fake devices to offer [IBMQ_GATEWAY_FAKE_DEVICES]",
    )
    parser.add_argument("--workers", type=int, help="simulation threads [IBMQ_GATEWAY_WORKERS]")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING... [IBMQ_GATEWAY_LOG_LEVEL]")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="text, or one JSON object per line [IBMQ_GATEWAY_LOG_FORMAT]",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics on this port, 0: any free one [IBMQ_GATEWAY_METRICS_PORT]",
    )
    parser.add_argument(
        "--metrics-address",
        help="interface of the metrics endpoint, default 127.0.0.1 [IBMQ_GATEWAY_METRICS_ADDRESS]",
    )
    parser.add_argument("--config", type=Path, help="a TOML file with any of these settings")


def _flags(args: argparse.Namespace) -> dict[str, object]:
    names = (
        "address",
        "state_dir",
        "concurrency",
        "fake_devices",
        "workers",
        "log_level",
        "log_format",
        "metrics_port",
        "metrics_address",
    )
    return {name: getattr(args, name) for name in names}


if __name__ == "__main__":
    sys.exit(main())
