"""var/ and the SQLite files are the site user's alone, and a sent mail's body (which held a
code) leaves no copy in the database file or its write-ahead log."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from keyfob.settings import Settings
from keyfob.web.runtime import Runtime
from tests.mailsink import MailSink, text_of

MAIL_PHRASE = b"create your account"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_site_keeps_its_files_private_under_a_loose_umask(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYFOB_")}
    env["KEYFOB_VAR_DIR"] = str(var)
    keyfob = Path(sys.executable).with_name("keyfob")
    subprocess.run(
        [str(keyfob), "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert mode(var) == 0o700
    assert mode(var / "secret_key") == 0o600
    database = var / "keyfob.sqlite3"
    assert mode(database) == 0o600
    for sibling in (var / "keyfob.sqlite3-wal", var / "keyfob.sqlite3-shm"):
        if sibling.exists():
            assert mode(sibling) == 0o600


def test_an_existing_loose_install_is_tightened(tmp_path: Path) -> None:
    """A var/ made before umask 077 (0755, database 0644) is for the site's user alone after
    the next command."""
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYFOB_")}
    env["KEYFOB_VAR_DIR"] = str(var)
    keyfob = Path(sys.executable).with_name("keyfob")
    subprocess.run([str(keyfob), "db", "upgrade"], cwd=tmp_path, env=env, check=True)
    var.chmod(0o755)
    (var / "keyfob.sqlite3").chmod(0o644)
    subprocess.run([str(keyfob), "db", "upgrade"], cwd=tmp_path, env=env, check=True)
    assert mode(var) == 0o700
    assert mode(var / "keyfob.sqlite3") == 0o600


def database_bytes(settings: Settings) -> bytes:
    file = Path(settings.database_url.split("///", 1)[1])
    wal = file.with_name(file.name + "-wal")
    return file.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_a_sent_mail_leaves_no_body_in_the_database_or_its_log(
    settings: Settings, runtime: Runtime, request_code, mail_sink: MailSink
) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite's files: runs on SQLite")
    code = await request_code("private@example.org")
    assert MAIL_PHRASE.decode() in text_of(mail_sink.wait_for("private@example.org"))
    stored = database_bytes(settings)
    assert MAIL_PHRASE not in stored
    assert f"\n{code}\n".encode() not in stored
