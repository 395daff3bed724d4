from __future__ import annotations

from pathlib import Path

import pytest

from activities import secrets
from activities.secrets import EnvSecrets, parse_dotenv


def test_parse_dotenv_handles_quotes_exports_and_comments() -> None:
    text = """
# a comment
export API_KEY=abc123
QUOTED="hello world"
SINGLE='x # not a comment'
TRAILING=value # comment
EMPTY=
not a line
"""
    assert parse_dotenv(text) == {
        "API_KEY": "abc123",
        "QUOTED": "hello world",
        "SINGLE": "x # not a comment",
        "TRAILING": "value",
        "EMPTY": "",
    }


def test_environment_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TOKEN_A=from-file\nTOKEN_B=file-only\nBLANK=\n")
    monkeypatch.setenv("TOKEN_A", "from-env")
    monkeypatch.delenv("TOKEN_B", raising=False)
    backend = EnvSecrets(env_file)
    assert backend.get("TOKEN_A") == "from-env"
    assert backend.get("TOKEN_B") == "file-only"
    assert backend.get("BLANK") is None  # empty is "not configured"
    assert backend.get("NOPE_NOT_SET_ANYWHERE") is None


def test_dotenv_is_reread_when_it_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("ROTATING=one\n")
    monkeypatch.delenv("ROTATING", raising=False)
    backend = EnvSecrets(env_file)
    assert backend.get("ROTATING") == "one"
    env_file.write_text("ROTATING=two\n")
    import os

    st = env_file.stat()
    os.utime(env_file, (st.st_atime, st.st_mtime + 5))
    assert backend.get("ROTATING") == "two"


def test_backend_is_replaceable_and_missing_secrets_lists_gaps(isolated_secrets) -> None:
    isolated_secrets.values["PRESENT"] = "yes"
    assert secrets.get_secret("PRESENT") == "yes"
    assert secrets.missing_secrets(["PRESENT", "ABSENT", "ALSO_ABSENT"]) == [
        "ABSENT",
        "ALSO_ABSENT",
    ]
