"""``ibmq-gateway users add|list|revoke``, ``db upgrade`` and ``audit``: administration.

They work on the gateway's database (in its state directory, or its PostgreSQL database),
so they run by whoever may reach that; they need no token and no running gateway.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ibmq_gateway.client.cli.failures import FAILED, USAGE, CommandFailure, reports_failures
from ibmq_gateway.client.cli.render import new_table, yes_no
from ibmq_gateway.server.cli import admin
from ibmq_gateway.server.cli.install import requires_server_install
from ibmq_gateway.server.core.settings import Settings
from ibmq_gateway.server.store import DuplicateUserError
from ibmq_gateway.server.store.choice import where

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.table import Table

    from ibmq_gateway.server.core.model import AuditEntry, User

PANEL = "Administer a gateway"

StateDir = Annotated[
    Path | None,
    typer.Option(
        help="The gateway's state directory (env IBMQ_GATEWAY_STATE_DIR).", show_default=False
    ),
]
Database = Annotated[
    str | None,
    typer.Option(
        help="The gateway's postgresql:// URL, if it has one (env IBMQ_GATEWAY_DATABASE).",
        show_default=False,
    ),
]
ExpiresIn = Annotated[
    float | None,
    typer.Option(help="Days until the token stops working (default: never).", show_default=False),
]
Config = Annotated[
    Path | None, typer.Option(help="The gateway's TOML settings file.", show_default=False)
]

users = typer.Typer(
    help="Add, list and revoke the people and programs that may call.", no_args_is_help=True
)


database_commands = typer.Typer(help="The gateway's database and its schema.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Adds the administration commands to ``app``."""
    app.add_typer(users, name="users", rich_help_panel=PANEL)
    app.add_typer(database_commands, name="db", rich_help_panel=PANEL)
    app.command(rich_help_panel=PANEL)(reports_failures(audit))


@users.command("add")
@reports_failures
def add_user(
    name: Annotated[str, typer.Argument(help="A name for the user (unique).")],
    hub: Annotated[str, typer.Option(help="The user's hub (share levels compare it).")],
    group: Annotated[str, typer.Option(help="The user's group.")],
    project: Annotated[str, typer.Option(help="The user's project.")],
    is_admin: Annotated[
        bool, typer.Option("--admin", help="May see every job and change any.")
    ] = False,
    expires_in: ExpiresIn = None,
    state_dir: StateDir = None,
    database: Database = None,
    config: Config = None,
) -> None:
    """Add a user and print their token, once: only a digest of it is kept."""
    settings = _settings("users add", state_dir, database, config)
    place, lifetime = (hub, group, project), _lifetime(expires_in)
    try:
        token = asyncio.run(
            admin.add_user(settings, name, place, admin=is_admin, expires_in=lifetime)
        )
    except DuplicateUserError as error:
        raise CommandFailure(str(error), USAGE) from None
    _hand_over(token, name)


@users.command("rotate")
@reports_failures
def rotate_token(
    name: Annotated[str, typer.Argument(help="The user who gets a new token.")],
    expires_in: ExpiresIn = None,
    state_dir: StateDir = None,
    database: Database = None,
    config: Config = None,
) -> None:
    """Give a user a new token and print it once; their old token stops working at once."""
    settings = _settings("users rotate", state_dir, database, config)
    token = asyncio.run(admin.rotate_token(settings, name, expires_in=_lifetime(expires_in)))
    if token is None:
        raise CommandFailure(f"no active user named {name!r}", FAILED)
    _hand_over(token, name)


def _lifetime(days: float | None) -> timedelta | None:
    if days is None:
        return None
    if days <= 0:
        raise CommandFailure(f"--expires-in must be a positive number of days, not {days}", USAGE)
    return timedelta(days=days)


def _hand_over(token: str, name: str) -> None:
    typer.echo(token)
    typer.echo(f"token of {name!r}: give it to them now; it is not shown again", err=True)


@users.command("list")
@reports_failures
def list_users(
    state_dir: StateDir = None, database: Database = None, config: Config = None
) -> None:
    """List the users (tokens are never shown)."""
    found = asyncio.run(admin.list_users(_settings("users list", state_dir, database, config)))
    Console().print(users_table(found))


@users.command("revoke")
@reports_failures
def revoke_user(
    name: Annotated[str, typer.Argument(help="The user whose token stops working.")],
    state_dir: StateDir = None,
    database: Database = None,
    config: Config = None,
) -> None:
    """Stop a user's token from working (the user and their jobs stay)."""
    if not asyncio.run(
        admin.revoke_user(_settings("users revoke", state_dir, database, config), name)
    ):
        raise CommandFailure(f"no active user named {name!r}", FAILED)
    typer.echo(f"revoked {name}")


@database_commands.command("upgrade")
@reports_failures
def upgrade_database(
    state_dir: StateDir = None, database: Database = None, config: Config = None
) -> None:
    """Migrate the database to this gateway's schema (serve does it too, when it starts)."""
    settings = _settings("db upgrade", state_dir, database, config)
    revision = asyncio.run(admin.upgrade_database(settings))
    typer.echo(f"{where(settings)}: schema at revision {revision}, the newest this gateway knows")


def audit(
    limit: Annotated[int, typer.Option(help="At most this many entries.")] = 50,
    actor: Annotated[str, typer.Option(help="Only this user's actions.")] = "",
    state_dir: StateDir = None,
    database: Database = None,
    config: Config = None,
) -> None:
    """List recorded submits, cancels, updates and user changes, newest first."""
    settings = _settings("audit", state_dir, database, config)
    entries = asyncio.run(admin.list_audit(settings, limit=limit, actor=actor))
    Console().print(audit_table(entries))


def _settings(
    command: str, state_dir: Path | None, database: str | None, config: Path | None
) -> Settings:
    requires_server_install(command)
    try:
        return Settings.load({"state_dir": state_dir, "database": database}, config_file=config)
    except (ValueError, OSError) as error:
        raise CommandFailure(str(error), USAGE) from error


def users_table(users: Sequence[User]) -> Table:
    """The gateway's users: name, place in the team, admin, expiry, last use, revocation."""
    found = new_table(
        "name", "hub", "group", "project", "admin", "since", "expires", "last used", "revoked"
    )
    for user in users:
        times = (user.created, user.expires, user.last_used, user.revoked)
        place = (user.hub, user.group, user.project)
        found.add_row(user.name, *place, yes_no(user.admin), *map(_minute, times))
    return found


def _minute(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else ""


def audit_table(entries: Sequence[AuditEntry]) -> Table:
    """Recorded actions, as given (newest first)."""
    found = new_table("time", "actor", "action", "target", "peer")
    for entry in entries:
        when = entry.time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        found.add_row(when, entry.actor, entry.action, entry.target, entry.peer)
    return found
