"""What travels over the fake's HTTP: requests, responses, IBM's error envelope, JWTs."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request, as a route handler sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # keys lower-cased
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # filled from the route's {names}

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {key: values[-1] for key, values in parse_qs(self.body.decode()).items()}

    def arg(self, name: str) -> str | None:
        """The last value of a query parameter, as most servers read a repeated key."""
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # Close the connection without answering at all (a dropped connection, not an HTTP error).
    drop: bool = False


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(payload).encode())


def text_response(text: str, status: int = 200) -> Response:
    return Response(status, text.encode(), content_type="text/plain; charset=utf-8")


def no_content() -> Response:
    return Response(204, content_type="")


def api_error(status: int, message: str, code: str | int | None = None) -> Response:
    """IBM's Quantum API error envelope (``GenericErrorDto`` in the published spec).

    The spec's shape is ``{"errors": [...], "trace": ...}``; qiskit-ibm-runtime 0.51 looks for
    ``error.message`` instead, misses, and appends the raw body to its exception message, so
    the text below still reaches the caller.
    """
    error = {
        "code": code if code is not None else status,
        "message": message,
        "solution": "",
        "more_info": "https://quantum.cloud.ibm.com/docs/errors",
    }
    return json_response(
        {"errors": [error], "trace": str(uuid.uuid4()), "status_code": status}, status
    )


def iam_error(status: int, code: str, message: str) -> Response:
    """IBM Cloud IAM's own error shape, which differs from the Quantum API's."""
    payload = {
        "errorCode": code,
        "errorMessage": message,
        "context": {"requestId": str(uuid.uuid4())},
    }
    return json_response(payload, status)


def iso_utc(moment: datetime) -> str:
    """The API's timestamp format: UTC, milliseconds, trailing Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims: dict[str, Any]) -> str:
    """A JWT-shaped token with a meaningless signature.

    The IBM SDK's token manager decodes the token without verifying it, only to read ``exp`` and
    ``iat`` and schedule its refresh, so the shape matters and the signature does not.
    """
    header = {"alg": "RS256", "typ": "JWT", "kid": "fake-ibm"}
    parts = (json.dumps(header).encode(), json.dumps(claims).encode(), uuid.uuid4().bytes)
    return ".".join(_b64url(part) for part in parts)
