"""The client's half of the ``ibmq-gateway`` command: use a gateway from the shell.

``new_app`` makes the command with the client's commands (``commands``); the server adds
its own (``serve``, ``demo``, ``users``, ``audit``) to it. Everything here is built on the
client's public API, so a client-only install runs it.
"""

from __future__ import annotations

import typer

from ibmq_gateway.client.cli import commands


def new_app() -> typer.Typer:
    """The ``ibmq-gateway`` command with the client's commands in it."""
    app = typer.Typer(
        name="ibmq-gateway",
        help="A gRPC gateway for quantum circuit jobs: run one, or use one from the shell.",
        no_args_is_help=True,
        rich_markup_mode="markdown",
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    commands.register(app)
    return app


def run(app: typer.Typer, argv: list[str] | None = None) -> int:
    """Runs ``app`` on ``argv`` (None: the process's arguments); returns its exit code."""
    try:
        app(args=argv, prog_name="ibmq-gateway")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 0 if done.code is None else 1
    return 0
