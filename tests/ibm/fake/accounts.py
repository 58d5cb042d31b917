"""IBM Cloud's side: IAM (API key → bearer token), Global Search and Global Catalog.

The client exchanges the API key at IAM, then finds its instance CRN through Global Search
(and the plan through Global Catalog) before it trusts the CRN it was given.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from tests.ibm.fake.wire import Request, Response, api_error, iam_error, json_response, make_jwt

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"


@dataclass
class Accounts:
    api_key: str
    instance_crn: str
    instance_name: str = "fake-ibm-instance"
    plan_id: str = "fake-open-plan-0001"
    account_id: str = "fakeaccount0001"
    token_lifetime: int = 3600
    iam_reject_status: int = 401
    rejected_keys: set[str] = field(default_factory=set)
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token → key, expiry
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def user_id(self) -> str:
        return f"IBMid-{self.account_id}"

    def key_is_valid(self, key: str) -> bool:
        return key == self.api_key and key not in self.rejected_keys

    def issue_token(self, request: Request) -> Response:
        """``POST /identity/token``: the API-key grant, answered with a JWT-shaped token."""
        form = request.form()
        if form.get("grant_type") != APIKEY_GRANT:
            return iam_error(400, "BXNIM0308E", "Grant type is not supported.")
        key = form.get("apikey", "")
        if not self.key_is_valid(key):
            return iam_error(
                self.iam_reject_status, "BXNIM0415E", "Provided API key could not be found."
            )
        issued = int(time.time())
        expires = issued + self.token_lifetime
        token = make_jwt(
            {
                "iam_id": self.user_id,
                "sub": f"{self.account_id}@example.invalid",
                "account": {"bss": self.account_id},
                "iat": issued,
                "exp": expires,
                "iss": "https://iam.cloud.ibm.com/identity",
                "grant_type": APIKEY_GRANT,
                "scope": "ibm openid",
                "jti": str(uuid.uuid4()),
            }
        )
        with self._lock:
            self._tokens[token] = (key, float(expires))
        return json_response(
            {
                "access_token": token,
                "refresh_token": "not_supported",
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "expiration": expires,
                "scope": "ibm openid",
            }
        )

    def authenticate(self, request: Request) -> Response | None:
        """None if the request carries a live bearer token (or a valid ``apikey``), else a 401.

        The API also accepts ``Authorization: apikey <key>``: the spec lists it, and the client
        falls back to it when the token exchange fails.
        """
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "apikey" and self.key_is_valid(credential):
            return None
        if scheme.lower() == "bearer":
            with self._lock:
                key, expiry = self._tokens.get(credential, ("", 0.0))
            if expiry > time.time() and self.key_is_valid(key):
                return None
        return api_error(401, "The provided access token is invalid or expired.", "1001")

    def search(self, request: Request) -> Response:
        """``POST /v3/resources/search``: the one Quantum instance this key can see."""
        if (denied := self.authenticate(request)) is not None:
            return denied
        item = {
            "crn": self.instance_crn,
            "name": self.instance_name,
            "service_plan_unique_id": self.plan_id,
            "tags": [],
            "doc": {"extensions": {"quantum_computing": {"allocation": "fake"}}},
        }
        return json_response({"items": [item], "limit": 100, "search_cursor": None})

    def catalog_entry(self, request: Request) -> Response:
        """``GET {catalog}/api/v1/{id}``: the plan's display name and pricing type."""
        if (denied := self.authenticate(request)) is not None:
            return denied
        if request.params["id"] != self.plan_id:
            return api_error(404, "Catalog entry not found.")
        return json_response(
            {
                "id": self.plan_id,
                "name": "open",
                "overview_ui": {"en": {"display_name": "Open"}},
                "metadata": {"pricing": {"type": "free"}},
            }
        )
