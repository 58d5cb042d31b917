"""The ``ibmq-gateway`` command: the client's commands and the server's, in one.

Owns: ``serve``, ``demo``, ``users`` and ``audit`` (run by whoever runs the gateway) and
``main``, which adds them to the client's commands (``ibmq_gateway.client.cli``).
May import: every room of the server and the client; the server's rooms only inside the
commands, so that a client-only install lists every command and runs the client's.
"""

from __future__ import annotations

import typer

from ibmq_gateway.client.cli import new_app, run
from ibmq_gateway.server.cli import admin_commands, serve


def _whole_app() -> typer.Typer:
    app = new_app()
    serve.register(app)
    admin_commands.register(app)
    return app


app = _whole_app()
"""The ``ibmq-gateway`` command."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ibmq-gateway`` command; returns its exit code."""
    return run(app, argv)
