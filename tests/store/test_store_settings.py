"""Store settings (DN_CDS_DATABASE_URL, _PSEUDONYM_KEY, _AUDIT_RETENTION_DAYS) and the pseudonym key."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest

from cds_service.settings import Settings, SettingsError
from cds_service.store import open_store
from cds_service.store.engine import database_url
from cds_service.store.pseudonym import Pseudonymizer, key_from_file

KEY = "k" * 32
PG = "postgresql://dn:s3cret-password@db.example.org:5432/dn_cds"


def test_store_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.database_url, settings.pseudonym_key, settings.audit_retention_days) == ("", "", 2190)


def test_store_variables_are_parsed() -> None:
    settings = Settings.from_env(
        {"DN_CDS_DATABASE_URL": f" {PG} ", "DN_CDS_PSEUDONYM_KEY": KEY, "DN_CDS_AUDIT_RETENTION_DAYS": "30"}
    )
    assert (settings.database_url, settings.pseudonym_key, settings.audit_retention_days) == (PG, KEY, 30)


def test_secrets_stay_out_of_the_settings_repr() -> None:
    text = repr(Settings.from_env({"DN_CDS_DATABASE_URL": PG, "DN_CDS_PSEUDONYM_KEY": KEY}))
    assert "s3cret" not in text
    assert KEY not in text


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"DN_CDS_DATABASE_URL": "mysql://u:p@h/db"}, "DN_CDS_DATABASE_URL"),
        ({"DN_CDS_DATABASE_URL": "db.example.org"}, "DN_CDS_DATABASE_URL"),
        ({"DN_CDS_DATABASE_URL": PG}, "DN_CDS_PSEUDONYM_KEY"),
        ({"DN_CDS_PSEUDONYM_KEY": "too-short"}, "DN_CDS_PSEUDONYM_KEY"),
        ({"DN_CDS_AUDIT_RETENTION_DAYS": "0"}, "DN_CDS_AUDIT_RETENTION_DAYS"),
        ({"DN_CDS_AUDIT_RETENTION_DAYS": "a year"}, "DN_CDS_AUDIT_RETENTION_DAYS"),
    ],
)
def test_invalid_store_settings_name_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable) as raised:
        Settings.from_env(environ)
    assert "s3cret" not in str(raised.value)


def test_postgresql_urls_use_psycopg_3_and_sqlite_is_the_default(tmp_path: Path) -> None:
    assert database_url(PG, tmp_path).drivername == "postgresql+psycopg"
    assert database_url("postgres://u@h/db", tmp_path).drivername == "postgresql+psycopg"
    default = database_url("", tmp_path)
    assert (default.drivername, default.database) == ("sqlite+pysqlite", str(tmp_path / "dn-cds.sqlite3"))


def test_open_store_refuses_postgresql_without_a_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="PSEUDONYM_KEY"):
        open_store(Settings(data_dir=tmp_path, database_url=PG), migrate=False)


def test_the_embedded_key_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    first = key_from_file(tmp_path / "data")

    assert key_from_file(tmp_path / "data") == first
    assert len(first) == 64
    path = tmp_path / "data" / "pseudonym.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store = open_store(Settings(data_dir=tmp_path / "data"))
    try:
        assert store.pseudonymizer.pseudonym("p1") == hmac.new(first, b"p1", hashlib.sha256).hexdigest()
    finally:
        store.close()


def test_the_store_makes_a_private_data_directory(tmp_path: Path) -> None:
    """The directory holds the pseudonym key, the database and the local client key: 0700 when the store
    creates it (it is created before anything else at start-up)."""
    store = open_store(Settings(data_dir=tmp_path / "fresh" / "data"))
    store.close()

    assert stat.S_IMODE((tmp_path / "fresh" / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "fresh" / "data" / "pseudonym.key").stat().st_mode) == 0o600


def test_pseudonyms_are_stable_keyed_and_hide_the_key() -> None:
    one, other = Pseudonymizer(b"a" * 32), Pseudonymizer(b"b" * 32)

    assert one.pseudonym("patient-1") == one.pseudonym("patient-1")
    assert one.pseudonym("patient-1") != one.pseudonym("patient-2")
    assert one.pseudonym("patient-1") != other.pseudonym("patient-1")
    assert "a" * 32 not in repr(one)
    with pytest.raises(ValueError, match="16 bytes"):
        Pseudonymizer(b"short")


def test_a_data_dir_that_cannot_hold_the_store_is_a_settings_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")

    with pytest.raises(SettingsError, match="DN_CDS_DATA_DIR"):
        open_store(Settings(data_dir=tmp_path / "a-file" / "data"))


@pytest.mark.parametrize("command", [["purge", "--dry-run"], ["report"], ["serve"]])
def test_an_unreachable_database_stops_the_command_with_a_message_and_no_password(
    command: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listens on port 1: the command exits 2 naming the setting, with no traceback and no URL."""
    from cds_service.cli import main

    monkeypatch.setenv("DN_CDS_DATABASE_URL", "postgresql://dncds:s3cret-pw@127.0.0.1:1/dncds")
    monkeypatch.setenv("DN_CDS_PSEUDONYM_KEY", "k" * 32)
    monkeypatch.setenv("DN_CDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("os.execv", lambda *args: pytest.fail("gunicorn must not start"))

    assert main(command) == 2
    error = capsys.readouterr().err
    assert "DN_CDS_DATABASE_URL" in error
    assert "s3cret-pw" not in error and "Traceback" not in error
