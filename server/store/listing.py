"""Job listings as SQL, for either store: the same conditions in each one's dialect.

The conditions hold exactly when ``JobQuery.matches`` would, so a page read from the
database is the page the query describes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ibmq_gateway.server.store.codec import to_micros

if TYPE_CHECKING:
    from ibmq_gateway.server.core.model import JobQuery
    from ibmq_gateway.server.store.base import PageCursor


@dataclass(frozen=True)
class Dialect:
    """What differs between the stores' SQL in a listing."""

    mark: str
    """The parameter placeholder."""
    matches: str
    """The operator of ``name <op> pattern`` (a Python-style regular expression)."""
    has_tag: str
    """A condition true when the job's JSON list of tags holds one of ``{}`` (marks)."""

    def sql(self, text: str) -> str:
        """``text`` (written with ``?`` placeholders and no other ``?``) in this dialect."""
        return text.replace("?", self.mark)


SQLITE = Dialect(
    mark="?",
    matches="REGEXP",
    has_tag="EXISTS (SELECT 1 FROM json_each(jobs.tags) WHERE value IN ({}))",
)
POSTGRES = Dialect(
    mark="%s",
    matches="~",
    has_tag=(
        "EXISTS (SELECT 1 FROM json_array_elements_text(jobs.tags::json) AS tag (value)"
        " WHERE tag.value IN ({}))"
    ),
)

# The SQL form of User.can_see for a user who is not an admin.
_VISIBLE = (
    "(owner = ? OR share_level = 'global' OR (share_level = 'hub' AND owner_hub = ?)"
    " OR (share_level = 'group' AND owner_hub = ? AND owner_grp = ?)"
    " OR (share_level = 'project' AND owner_hub = ? AND owner_grp = ? AND owner_project = ?))"
)


def listing_sql(
    dialect: Dialect, query: JobQuery, ascending: bool, after: PageCursor | None
) -> tuple[str, list[Any]]:
    """A ``SELECT snapshot`` of the query's page, and its parameters but the last two
    (the caller adds ``limit`` and ``offset``)."""
    conditions, params = _query_conditions(dialect, query)
    if after is not None:
        conditions.append(f"(created, id) {'>' if ascending else '<'} (?, ?)")
        params += [to_micros(after.created), after.job_id]
    where = " AND ".join(conditions) or "TRUE"
    order = "ASC" if ascending else "DESC"
    sql = f"SELECT snapshot FROM jobs WHERE {where} ORDER BY created {order}, id {order}"
    return dialect.sql(f"{sql} LIMIT ? OFFSET ?"), params


def _query_conditions(dialect: Dialect, query: JobQuery) -> tuple[list[str], list[Any]]:
    conditions: list[str] = []
    params: list[Any] = []
    for condition, value in (
        ("backend = ?", query.backend),
        ("owner = ?", query.owner),
        ("experiment_id = ?", query.experiment_id),
        (f"name {dialect.matches} ?", query.name_pattern),
    ):
        if value:
            conditions.append(condition)
            params.append(value)
    if query.states:
        conditions.append(f"state IN ({marks(query.states)})")
        params += sorted(state.value for state in query.states)
    if query.created_after is not None:
        conditions.append("created >= ?")
        params.append(to_micros(query.created_after))
    if query.created_before is not None:
        conditions.append("created <= ?")
        params.append(to_micros(query.created_before))
    if query.tags:
        conditions += _tag_conditions(dialect, query.tags, query.tags_all)
        params += query.tags
    viewer = query.viewer
    if viewer is not None and not viewer.admin:
        conditions.append(_VISIBLE)
        params += [viewer.name, viewer.hub, viewer.hub, viewer.group]
        params += [viewer.hub, viewer.group, viewer.project]
    return conditions, params


def _tag_conditions(dialect: Dialect, tags: tuple[str, ...], every: bool) -> list[str]:
    if every:
        return [dialect.has_tag.format("?")] * len(tags)
    return [dialect.has_tag.format(marks(tags))]


def marks(values: Collection[object]) -> str:
    """As many ``?`` placeholders as ``values``, comma-separated."""
    return ", ".join("?" * len(values))
