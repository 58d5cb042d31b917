"""Job tags: their validation and the tag set an ``update_tags`` call asks for."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ibmq_gateway.client.exceptions import IBMQJobInvalidStateError

if TYPE_CHECKING:
    from collections.abc import Iterable

logger = logging.getLogger(__name__)

JOBSET_PREFIX = "ibmq_jobset_"
"""Tags with this prefix belong to job managers; ``update_tags`` never drops them."""


def validate_tags(tags: object, error: type[Exception]) -> None:
    """Raises ``error`` unless ``tags`` is empty or a list of strings."""
    if tags and (not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags)):
        raise error("job_tags needs to be a list or strings.")


def updated_tags(
    current: Iterable[str],
    replacement_tags: list[str] | None = None,
    additional_tags: list[str] | None = None,
    removal_tags: list[str] | None = None,
) -> set[str]:
    """The tags a job should have after an update, computed in a fixed order.

    First ``replacement_tags`` replaces every tag (keeping job-manager tags), then
    ``additional_tags`` are added, then ``removal_tags`` removed; so adding and removing the
    same tag changes nothing.

    Raises:
        IBMQJobInvalidStateError: no argument was given, or one is not a list of strings.
    """
    if replacement_tags is None and additional_tags is None and removal_tags is None:
        raise IBMQJobInvalidStateError(
            "The tags cannot be updated since none of the parameters are specified."
        )
    for given in (replacement_tags, additional_tags, removal_tags):
        validate_tags(given, IBMQJobInvalidStateError)
    existing = set(current)
    tags = set(existing)
    if replacement_tags is not None:  # an empty list is a request to clear the tags
        kept = {tag for tag in existing if tag.startswith(JOBSET_PREFIX)}
        tags = set(replacement_tags) | kept
    tags.update(additional_tags or [])
    for tag in removal_tags or []:
        _remove(tags, tag)
    return tags


def _remove(tags: set[str], tag: str) -> None:
    if tag.startswith(JOBSET_PREFIX):
        logger.warning('The tag "%s" is reserved for job managers and cannot be removed.', tag)
    elif tag not in tags:
        logger.warning('The job has no tag "%s"; nothing to remove.', tag)
    else:
        tags.remove(tag)
