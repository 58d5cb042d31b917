"""Fixtures of the server tests."""

from __future__ import annotations

import pytest

from tests.helpers import connect


@pytest.fixture
def stubs(gateway):
    """Raw stubs connected to the test gateway."""
    connection = connect(gateway.address)
    yield connection
    connection.close()
