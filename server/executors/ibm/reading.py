"""Reading what qiskit-ibm-runtime hands back, through its public surface only: job states,
failure reasons, backend descriptions, JSON-ready calibration, and the exceptions it raises
with the HTTP facts (status, Retry-After) chained inside them.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qiskit_ibm_runtime import IBMBackend, RuntimeJobV2

_STATUSES = {
    name: status
    for status, names in (
        ("QUEUED", "INITIALIZING VALIDATING QUEUED"),
        ("RUNNING", "RUNNING"),
        ("DONE", "DONE COMPLETED"),
        ("CANCELLED", "CANCELLED CANCELED"),
        ("ERROR", "ERROR FAILED"),
    )
    for name in names.split()
}
_REASON = re.compile(r"Error code (\d+); (.*)", re.DOTALL)
_HTTP_STATUS = re.compile(r"\b([45]\d\d) (?:Client|Server) Error\b")


def normalize_status(status: object) -> str | None:
    """QUEUED, RUNNING, DONE, CANCELLED or ERROR for a cloud job's status string or a local
    job's qiskit ``JobStatus``; None for a state this code does not know."""
    name = getattr(status, "name", status)  # JobStatus.DONE → "DONE"
    return _STATUSES.get(str(name).strip().upper())


def failure(job: RuntimeJobV2) -> tuple[str, int | None]:
    """IBM's reason text and code for a job in ERROR (the client maps Cancelled + 1305 there).

    The client keeps them private, but ``result()`` on a final job raises them at once,
    without a request, as "Error code N; reason".
    """
    from qiskit_ibm_runtime.exceptions import RuntimeJobMaxTimeoutError

    try:
        job.result(timeout=0)
    except Exception as error:
        text = message_of(error).removeprefix("Unable to retrieve job result. ").strip()
        code = 1305 if isinstance(error, RuntimeJobMaxTimeoutError) else None
        if found := _REASON.search(text):
            code, text = int(found.group(1)), found.group(2).strip()
        return text or (job.error_message() or ""), code
    return job.error_message() or "", None


def describe(backend: IBMBackend) -> str:
    """E.g. "127-qubit IBM Quantum device ibm_brisbane (Eagle r3)"."""
    config = backend.configuration()
    kind = "simulator" if getattr(config, "simulator", False) else "device"
    text = f"{config.n_qubits}-qubit IBM Quantum {kind} {backend.name}"
    processor = getattr(config, "processor_type", None) or {}
    if family := processor.get("family"):
        revision = processor.get("revision")
        text += f" ({family} r{revision})" if revision else f" ({family})"
    return text


def json_ready(value: Any) -> Any:
    """``value`` with datetimes as ISO strings, tuples as lists, numpy scalars as numbers."""
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return json_ready(value.item())
    return str(value)


def message_of(error: BaseException) -> str:
    """An exception's message (qiskit's errors print theirs quoted, as a repr)."""
    message = getattr(error, "message", None)
    return message if isinstance(message, str) else str(error)


def exception_chain(error: BaseException) -> list[BaseException]:
    """The error and its causes and contexts (the client often raises ``from None``)."""
    chain: list[BaseException] = []
    link: BaseException | None = error
    while link is not None and link not in chain and len(chain) < 12:
        chain.append(link)
        link = link.__cause__ or link.__context__
    return chain


def http_facts(chain: list[BaseException]) -> tuple[int | None, float | None]:
    """The HTTP status (-1: the client's retries ran out) and Retry-After seconds, if any."""
    status: int | None = None
    retry_after: float | None = None
    for link in chain:
        response = getattr(link, "response", None)  # requests' exceptions
        code = getattr(response, "status_code", None) or getattr(link, "status_code", None)
        if isinstance(code, int) and (status is None or status == -1):
            status = code
        headers = getattr(response, "headers", None)
        if retry_after is None and headers is not None:
            retry_after = _retry_after(headers.get("Retry-After"))
    if status is None or status == -1:
        for link in chain:
            if found := _HTTP_STATUS.search(message_of(link)):
                return int(found.group(1)), retry_after
    return status, retry_after


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(moment.tzinfo)).total_seconds())
