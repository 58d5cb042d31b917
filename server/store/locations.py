"""Where a database is, said in messages and logs without its secrets."""

from __future__ import annotations

from urllib.parse import urlsplit


def describe_postgres(url: str) -> str:
    """``PostgreSQL user@host:port/database`` of a ``postgresql://`` URL, never a password."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the PostgreSQL database (its URL does not parse)"
    user = f"{parts.username}@" if parts.username else ""
    return f"PostgreSQL {user}{parts.hostname or 'localhost'}{port}{parts.path or '/'}"
