"""A fuzzed call: a method, its request bytes, and the metadata it carries (a token or not).

Authenticated calls carry a valid token of one of the known users (an admin, two users in
different groups), so that each RPC's visibility rules run. Unauthenticated ones carry
none, a refused token, a random one, or an authorization entry of the wrong shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import text_format
from hypothesis import strategies as st

from tests.fuzz import values
from tests.fuzz.known import Known
from tests.fuzz.methods import METHODS, Method
from tests.fuzz.requests import bodies, messages

Metadata = tuple[tuple[str, str | bytes], ...]
_SHOWN_CHARS = 1500


@dataclass(frozen=True)
class Call:
    """One request as sent."""

    method: Method
    message: Any | None
    """The message the body was made from (None for noise)."""
    body: bytes
    metadata: Metadata
    caller: str
    """Whose token the call carries ("-" for none or an invalid one)."""

    @property
    def authenticated(self) -> bool:
        return self.caller != "-"

    def __repr__(self) -> str:
        # Hypothesis prints this for a minimised failing case: enough to replay it by hand.
        exact = self.message is not None and self.message.SerializeToString() == self.body
        shown = [f"{self.method.name} as {self.caller}"]
        if self.message is not None:
            text = text_format.MessageToString(self.message, as_one_line=True)
            shown.append(f"message {_clipped(text)}" + ("" if exact else " (then mutated)"))
        if not exact:
            shown.append(f"body {len(self.body)} bytes {_clipped(repr(self.body))}")
        shown.append(f"metadata {_clipped(repr(_without_tokens(self.metadata)))}")
        return "Call(" + "; ".join(shown) + ")"


def _clipped(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + f"...({len(text)} chars)"


def _without_tokens(metadata: Metadata) -> Metadata:
    return tuple(
        (key, "<token>") if key == "authorization" else (key, value) for key, value in metadata
    )


def _bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


def _bad_authorization(known: Known) -> st.SearchStrategy[Metadata]:
    printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)
    return st.one_of(
        st.just(()),
        st.sampled_from(known.refused_tokens).map(_bearer),
        printable.map(_bearer),
        printable.map(lambda value: (("authorization", value),)),
        st.sampled_from(list(known.tokens.values())).map(
            lambda token: (("authorization", f"Bearer {token}"), ("authorization", "Bearer x"))
        ),
        st.sampled_from(list(known.tokens.values())).map(lambda token: _bearer(token + "x")),
    )


def calls(
    known: Known, method: Method, message: st.SearchStrategy[Any], *, authenticated: bool
) -> st.SearchStrategy[Call]:
    """Calls of ``method`` with a valid token of a known user, or with no valid token."""
    if authenticated:
        who = st.sampled_from(sorted(known.tokens)).map(
            lambda name: (name, _bearer(known.tokens[name]))
        )
    else:
        who = _bad_authorization(known).map(lambda entries: ("-", entries))
    return st.builds(
        lambda pair, caller, extra: Call(
            method, pair[0], pair[1], caller[1] + tuple(extra), caller[0]
        ),
        bodies(message),
        who,
        values.metadata_entries(),
    )


def any_calls(known: Known, *, authenticated: bool | None = None) -> st.SearchStrategy[Call]:
    """Calls of any RPC: with a valid token, without, or (None) three in four with one."""
    table = messages(known)
    choices = [True, True, True, False] if authenticated is None else [authenticated]

    def of(method: Method) -> st.SearchStrategy[Call]:
        return st.sampled_from(choices).flatmap(
            lambda valid: calls(known, method, table[method.name], authenticated=valid)
        )

    return st.sampled_from(METHODS).flatmap(of)
