"""Resume and page tokens: random text, real tokens edited, and tokens shaped like ours.

A random string is refused at the first base64 or split; the interesting tokens decode to
the right shape with an odd inside: a revision past every integer type, a time with no
zone or outside the calendar, another log's epoch.
"""

from __future__ import annotations

import base64

from hypothesis import strategies as st

from tests.fuzz.values import INT64, text

_REVISIONS = st.one_of(
    st.integers(-3, 100),
    st.integers(*INT64),
    st.sampled_from([INT64[1] + 1, 10**30, -(10**30)]),
).map(str)
_MOMENTS = st.one_of(
    st.datetimes(timezones=st.none()).map(lambda moment: moment.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+14:00", "2024-02-30"]),
    text(30),
)


def wrap(text: str) -> str:
    """A token the way the gateway makes them (URL-safe base64 without padding)."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def unwrap(token: str) -> str:
    """The text inside a token the gateway made."""
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()


def _edited(token: str, at: int, piece: str) -> str:
    at %= len(token) + 1
    return token[:at] + piece + token[at + 1 :]


def _shaped(*parts: st.SearchStrategy[str], separator: str) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map(lambda values: wrap(separator.join(values)))


def resume_tokens(epoch: str, real: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Resume tokens: real ones, edited ones, ``version:epoch:revision`` with odd parts."""
    versions = st.one_of(st.just("1"), text(3))
    epochs = st.one_of(st.just(epoch), text(12))
    return st.one_of(
        st.just(""),
        st.sampled_from(real),
        st.builds(_edited, st.sampled_from(real), st.integers(0, 64), text(2)),
        _shaped(versions, epochs, _REVISIONS, separator=":"),
        text(60),
    )


def page_tokens(real: tuple[str, ...], job_ids: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Page tokens: real ones, edited ones, ``version|time|job id`` with odd parts."""
    versions = st.one_of(st.just("1"), text(3))
    ids = st.one_of(st.sampled_from(job_ids), text(40))
    return st.one_of(
        st.just(""),
        st.sampled_from(real),
        st.builds(_edited, st.sampled_from(real), st.integers(0, 64), text(2)),
        _shaped(versions, _MOMENTS, ids, separator="|"),
        text(60),
    )
