"""Credentials in settings: the IBM key (read from a file, refused without an instance) and
the database URL's password are never shown.

That the key leaves no trace in a running gateway is tested in tests/ibm/test_ibm_credentials.py,
where the gateway really uses it against the loopback fake of IBM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ibmq_gateway.server.core.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

MARKER = "FAKE-IBM-KEY-6f1d0c2a-do-not-leak"
INSTANCE = "crn:v1:bluemix:public:quantum-computing:us-east:a/team:instance-id::"


def test_the_key_comes_from_a_file_and_never_shows_in_settings(tmp_path: Path) -> None:
    key_file = tmp_path / "ibm.key"
    key_file.write_text(MARKER + "\n")
    settings = Settings.load({"ibm_token_file": key_file, "ibm_instance": INSTANCE}, environ={})
    assert settings.ibm_token == MARKER
    assert MARKER not in repr(settings) and MARKER not in str(settings)


def test_the_database_password_never_shows_in_settings() -> None:
    url = f"postgresql://gateway:{MARKER}@db.example:5432/gateway"
    settings = Settings.load({"database": url}, environ={})
    assert settings.database == url
    assert MARKER not in repr(settings) and MARKER not in str(settings)


def test_an_unreadable_key_file_is_named_without_content(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"ibm_token_file .*missing\.key"):
        Settings.load(
            {"ibm_token_file": tmp_path / "missing.key", "ibm_instance": INSTANCE}, environ={}
        )
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        Settings.load({"ibm_token_file": empty, "ibm_instance": INSTANCE}, environ={})


def test_a_key_without_an_instance_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="IBMQ_GATEWAY_IBM_INSTANCE") as refused:
        Settings.load({}, environ={"IBMQ_GATEWAY_IBM_TOKEN": MARKER})
    assert MARKER not in str(refused.value)
