"""What can go wrong at IBM Quantum, in the five kinds the gateway acts on, and ``translate``:
the one place that sorts qiskit-ibm-runtime's exceptions (and the HTTP facts inside them)
into those kinds. Messages name the call and never contain the API key.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ibmq_gateway.server.executors.ibm.lanes import LanesExhausted
from ibmq_gateway.server.executors.ibm.reading import exception_chain, http_facts, message_of

if TYPE_CHECKING:
    from ibmq_gateway.server.executors.ibm.records import IbmAccount

DEFAULT_RETRY_AFTER = 60.0  # seconds, when a 429 carries no usable Retry-After


class IbmError(Exception):
    """IBM Quantum could not do what was asked; ``message`` says what to do about it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IbmTransientError(IbmError):
    """IBM failed or did not answer in time (5xx, retries exhausted, network, timeout)."""

    def __init__(self, message: str, *, answered: bool = False) -> None:
        super().__init__(message)
        self.answered = answered
        """True when IBM answered (a 5xx): a send it answered so did not create a job. False
        when the answer was lost (network, timeout): the send may have created one."""


class IbmRateLimitedError(IbmError):
    """IBM refused for now (429, code 1202); retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = DEFAULT_RETRY_AFTER) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IbmAuthError(IbmError):
    """The API key is wrong or revoked, or cannot use the instance."""


class IbmRejectedError(IbmError):
    """IBM refused the request itself (bad circuit, unknown backend or job): don't retry."""


_RATE_LIMIT_CODE = re.compile(r"""["']code["']\s*:\s*["']?1202\b""")


def translate(error: BaseException, account: IbmAccount, what: str = "IBM call") -> IbmError:
    """The ``IbmError`` for a client exception raised while doing ``what``; the only place
    that classifies them. Messages name the call and never contain the API key."""
    if isinstance(error, IbmError):
        return error
    detail = _detail(error, account.token)
    if isinstance(error, LanesExhausted):
        return IbmTransientError(f"IBM Quantum is not answering ({what}): {error}; retry later.")
    if isinstance(error, ImportError):
        return IbmError(f"qiskit-ibm-runtime is not usable here ({what}): {detail}")
    import requests
    from qiskit.providers.exceptions import QiskitBackendNotFoundError
    from qiskit_ibm_runtime.accounts import InvalidAccountError
    from qiskit_ibm_runtime.exceptions import (
        IBMInputValueError,
        IBMNotAuthorizedError,
        RuntimeInvalidStateError,
        RuntimeJobFailureError,
        RuntimeJobMaxTimeoutError,
        RuntimeJobNotFound,
    )

    chain = exception_chain(error)
    status, retry_after = http_facts(chain)
    text = " ".join(message_of(link) for link in chain)
    network = any(
        isinstance(link, requests.ConnectionError | requests.Timeout | ConnectionError)
        for link in chain
    )
    how = f"{what}, HTTP {status}" if status not in (None, -1) else what
    if status == 429 or _RATE_LIMIT_CODE.search(text):
        wait = DEFAULT_RETRY_AFTER if retry_after is None else retry_after
        return IbmRateLimitedError(
            f"IBM Quantum is rate-limiting this API key ({what}, HTTP 429); "
            f"retry in {wait:g} s. {detail}",
            retry_after=wait,
        )
    if isinstance(error, InvalidAccountError) and (network or (status or 0) >= 500):
        return IbmTransientError(
            f"IBM Cloud could not check the API key ({how}); retry later. {detail}"
        )
    if (
        isinstance(error, InvalidAccountError | IBMNotAuthorizedError)
        or status in (401, 403)
        or "does not have access to the instance" in text
    ):
        return IbmAuthError(
            f"IBM Quantum refused the API key ({how}): it is wrong or revoked, or it cannot "
            f"use instance {account.instance}. Check the gateway's IBM credentials. {detail}"
        )
    if network or (status is not None and (status >= 500 or status == -1)):
        return IbmTransientError(
            f"IBM Quantum failed ({how}); retry later. {detail}", answered=not network
        )
    rejected = (
        QiskitBackendNotFoundError,
        RuntimeJobNotFound,
        RuntimeInvalidStateError,
        RuntimeJobFailureError,
        RuntimeJobMaxTimeoutError,
        IBMInputValueError,
        ValueError,
        TypeError,
    )
    if (status is not None and 400 <= status < 500) or isinstance(error, rejected):
        return IbmRejectedError(f"IBM Quantum refused the request ({how}): {detail}")
    return IbmTransientError(f"IBM Quantum failed unexpectedly ({how}); retry later. {detail}")


def _detail(error: BaseException, token: str) -> str:
    """The client's own words (and the root cause's), on one line, short, without the key."""
    root = exception_chain(error)[-1]
    shown = [error] if message_of(root) in message_of(error) else [error, root]
    texts = [" ".join(f"{type(link).__name__}: {message_of(link)}".split()) for link in shown]
    if token:
        texts = [text.replace(token, "[API key]") for text in texts]
    return " <- ".join(text if len(text) <= 300 else text[:297] + "..." for text in texts)
