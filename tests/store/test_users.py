"""The users part of the ``JobStore`` contract, run against every implementation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ibmq_gateway.server.core.model import JobQuery, User
from ibmq_gateway.server.core.states import JobState
from ibmq_gateway.server.store import DuplicateUserError, JobStore
from tests.store.conftest import MakeStore
from tests.store.test_contract import make_job

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_user(name: str, **fields: object) -> User:
    values: dict[str, object] = {"hub": "h", "group": "g", "project": "p", "created": T0}
    return User(name=name, **{**values, **fields})  # type: ignore[arg-type]


async def test_a_user_is_found_by_their_token_digest(store: JobStore) -> None:
    alice = make_user("alice", admin=True)
    await store.add_user(alice, "digest-a")
    assert await store.user_by_token("digest-a") == alice
    assert await store.user_by_token("digest-b") is None


async def test_names_are_unique_and_a_duplicate_writes_nothing(store: JobStore) -> None:
    await store.add_user(make_user("alice"), "digest-a")
    with pytest.raises(DuplicateUserError):
        await store.add_user(make_user("alice", hub="other"), "digest-b")
    assert await store.user_by_token("digest-b") is None
    assert [user.hub for user in await store.list_users()] == ["h"]


async def test_users_are_listed_by_name(store: JobStore) -> None:
    for name in ("carol", "alice", "bob"):
        await store.add_user(make_user(name), f"digest-{name}")
    assert [user.name for user in await store.list_users()] == ["alice", "bob", "carol"]


async def test_a_revoked_user_keeps_their_record(store: JobStore) -> None:
    await store.add_user(make_user("alice"), "digest-a")
    later = datetime(2025, 3, 2, tzinfo=UTC)
    assert await store.revoke_user("alice", later)
    assert not await store.revoke_user("alice", later)
    assert not await store.revoke_user("nobody", later)
    revoked = await store.user_by_token("digest-a")
    assert revoked is not None and revoked.revoked == later and not revoked.active


async def test_users_survive_a_reopen(make_store: MakeStore, backend) -> None:
    if not backend.durable:
        pytest.skip("this store keeps nothing after close")
    first = make_store()
    await first.open()
    await first.add_user(make_user("alice"), "digest-a")
    await first.close()
    second = make_store()
    await second.open()
    assert [user.name for user in await second.list_users()] == ["alice"]
    await second.close()


LEVELS = ("none", "project", "group", "hub", "global")
VIEWERS = {
    "owner": make_user("alice", hub="h", group="g", project="p"),
    "same project": make_user("bob", hub="h", group="g", project="p"),
    "same group": make_user("carol", hub="h", group="g", project="q"),
    "same hub": make_user("dan", hub="h", group="x", project="q"),
    "other hub": make_user("eve", hub="z", group="g", project="p"),
    "admin": make_user("root", hub="z", group="z", project="z", admin=True),
}
# Share level -> who besides the owner and admins sees the job.
SEES = {
    "none": set(),
    "project": {"same project"},
    "group": {"same project", "same group"},
    "hub": {"same project", "same group", "same hub"},
    "global": {"same project", "same group", "same hub", "other hub"},
}


@pytest.mark.parametrize("viewer", sorted(VIEWERS))
async def test_listings_show_a_viewer_exactly_what_share_levels_allow(store, viewer) -> None:
    for index, level in enumerate(LEVELS):
        job = make_job(level, minutes=index, share_level=level, owner="alice")
        placed = replace(job, owner_hub="h", owner_group="g", owner_project="p")
        await store.create_job(placed, [], None)
    query = JobQuery(viewer=VIEWERS[viewer], states=frozenset({JobState.CREATING}))
    listed = {job.id for job in await store.list_jobs(query, limit=10)}
    expected = {level for level in LEVELS if viewer in ("owner", "admin") or viewer in SEES[level]}
    assert listed == expected


async def test_an_expiry_and_the_last_use_are_kept(store: JobStore) -> None:
    later = T0 + timedelta(days=30)
    await store.add_user(make_user("alice", expires=later), "digest-a")
    found = await store.user_by_token("digest-a")
    assert found is not None and (found.expires, found.last_used) == (later, None)
    await store.record_use("alice", T0 + timedelta(minutes=5))
    used = await store.user_by_token("digest-a")
    assert used is not None and used.last_used == T0 + timedelta(minutes=5)


async def test_a_rotated_token_replaces_the_old_one(store: JobStore) -> None:
    await store.add_user(make_user("alice"), "digest-old")
    assert await store.rotate_token("alice", "digest-new", T0 + timedelta(days=1))
    assert await store.user_by_token("digest-old") is None
    rotated = await store.user_by_token("digest-new")
    assert rotated is not None and rotated.expires == T0 + timedelta(days=1)
    assert await store.rotate_token("alice", "digest-newer", None)
    forever = await store.user_by_token("digest-newer")
    assert forever is not None and forever.expires is None


async def test_revoked_or_unknown_users_get_no_new_token(store: JobStore) -> None:
    await store.add_user(make_user("alice"), "digest-a")
    assert await store.revoke_user("alice", T0)
    assert not await store.rotate_token("alice", "digest-b", None)
    assert not await store.rotate_token("nobody", "digest-c", None)
    assert await store.user_by_token("digest-b") is None
    assert await store.user_by_token("digest-a") is not None  # still known, still revoked
