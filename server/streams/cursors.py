"""Resume tokens: an opaque, URL-safe encoding of (log epoch, revision).

A token means "every event up to this revision has been delivered". The epoch ties it to
one event log, so a token from another database is refused rather than misread.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from ibmq_gateway.server.core.errors import (
    FieldViolation,
    InvalidArgumentError,
    ResumeTokenExpiredError,
)

_VERSION = "1"


def encode(epoch: str, revision: int) -> str:
    """The token for a position in the log."""
    return _wrap(f"{_VERSION}:{epoch}:{revision}")


def decode(token: str, *, epoch: str, oldest_retained: int) -> int:
    """The revision a token points at.

    Raises:
        InvalidArgumentError: the token is not one of ours.
        ResumeTokenExpiredError: it belongs to another log or to pruned history.
    """
    version, token_epoch, revision = _split(token)
    if version != _VERSION or token_epoch != epoch:
        raise ResumeTokenExpiredError(
            "resume token belongs to another event log (the gateway's state was reset); "
            "read the current state and watch again without a token",
            reason="RESUME_TOKEN_EXPIRED",
        )
    if revision < oldest_retained - 1:
        raise ResumeTokenExpiredError(
            f"resume token points at revision {revision}, older than the retained log "
            f"(from {oldest_retained}); read the current state and watch again",
            reason="RESUME_TOKEN_EXPIRED",
            metadata={"oldest_available_revision": str(oldest_retained)},
        )
    return revision


def _split(token: str) -> tuple[str, str, int]:
    try:
        version, epoch, revision = _unwrap(token).split(":")
        return version, epoch, int(revision)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgumentError(
            "resume_token is malformed; pass a token exactly as the server sent it",
            [FieldViolation("resume_token", "not a token issued by this gateway")],
            reason="INVALID_RESUME_TOKEN",
        ) from None


def encode_page(created: datetime, job_id: str) -> str:
    """The page token that continues a listing after the given job."""
    return _wrap(f"{_VERSION}|{created.isoformat()}|{job_id}")


def decode_page(token: str) -> tuple[datetime, str]:
    """The (creation time, job id) a page token continues after."""
    try:
        version, created, job_id = _unwrap(token).split("|")
        if version != _VERSION:
            raise ValueError(version)
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None:  # ours always carry one, and the store compares aware times
            raise ValueError(created)
        return moment, job_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgumentError(
            "page_token is malformed; pass next_page_token exactly as the server sent it",
            [FieldViolation("page_token", "not a token issued by this gateway")],
            reason="INVALID_PAGE_TOKEN",
        ) from None


def _wrap(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unwrap(token: str) -> str:
    """Raises binascii.Error or UnicodeDecodeError for what ``_wrap`` did not make."""
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
