"""Where the client finds its bearer token, and what it says when a place it was sent to fails.

Order: the ``token`` argument, ``IBMQ_GATEWAY_TOKEN``, the file ``IBMQ_GATEWAY_TOKEN_FILE``
names, then the admin token file of a gateway on this machine's default state directory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ibmq_gateway.client.exceptions import IBMQAccountError

TOKEN_ENV = "IBMQ_GATEWAY_TOKEN"
TOKEN_FILE_ENV = "IBMQ_GATEWAY_TOKEN_FILE"


def resolve_token(token: str | None) -> str:
    """The token to send (empty: none found, send none).

    Raises:
        IBMQAccountError: ``IBMQ_GATEWAY_TOKEN_FILE`` names a file that cannot be read, or
            the local admin token file can be read by others than its owner.
    """
    if token is not None:
        return token
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    named = os.environ.get(TOKEN_FILE_ENV)
    if named:
        return _read(Path(named).expanduser(), f"{TOKEN_FILE_ENV} names {named}, but it")
    admin_file = local_admin_token_file()
    if not admin_file.is_file():
        return ""
    _refuse_if_shared(admin_file)
    return _read(admin_file, f"the local admin token file {admin_file}")


def local_admin_token_file() -> Path:
    """The admin token file of a gateway on this machine's default state directory."""
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "ibmq-gateway" / "admin.token"


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as error:
        raise IBMQAccountError(f"{what} cannot be read: {error.strerror}") from None


def _refuse_if_shared(path: Path) -> None:
    # An admin's token readable by others is as good as theirs: refuse rather than use it.
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise IBMQAccountError(
            f"the local admin token file {path} is readable by others (mode {mode:04o}); "
            f"make it private with: chmod 600 {path}"
        )
