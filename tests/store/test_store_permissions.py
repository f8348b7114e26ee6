"""Store file permissions (issue 15 item 5): the SQLite file and its -wal/-shm are 0600 whatever the umask and
whoever made the data directory; a directory open to other users is warned about."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cds_service import Settings
from cds_service.store import AuditedCard, HookCallRecord, open_store
from cds_service.store.engine import SQLITE_FILE_NAME


@pytest.fixture
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def write_one_call(data_dir: Path) -> dict[str, int]:
    """Open the store, write a call; the modes of its database files while the connection is open."""
    store = open_store(Settings(data_dir=data_dir))
    try:
        call = HookCallRecord(
            datetime(2026, 11, 26, tzinfo=UTC), "s", 200, 1.0, cards=[AuditedCard("u", "c", "info")]
        )
        store.audit.record(call)
        with store.engine.connect():
            return {path.name: mode(path) for path in data_dir.glob(SQLITE_FILE_NAME + "*")}
    finally:
        store.close()


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_database_files_are_private_in_an_existing_open_directory(
    tmp_path: Path, usual_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)  # as the Dockerfile's mkdir -p leaves it
    data_dir.chmod(0o755)

    with caplog.at_level(logging.WARNING, logger="dn_cds.security"):
        files = write_one_call(data_dir)

    assert {SQLITE_FILE_NAME, SQLITE_FILE_NAME + "-wal", SQLITE_FILE_NAME + "-shm"} <= set(files)
    assert files == dict.fromkeys(files, 0o600)
    assert mode(data_dir / "pseudonym.key") == 0o600
    assert any("mode 0755" in record.getMessage() for record in caplog.records)


def test_a_directory_the_service_creates_is_private_and_not_warned_about(
    tmp_path: Path, usual_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "new"

    with caplog.at_level(logging.WARNING, logger="dn_cds.security"):
        files = write_one_call(data_dir)

    assert mode(data_dir) == 0o700
    assert files == dict.fromkeys(files, 0o600)
    assert len(files) >= 3
    assert not [record for record in caplog.records if "other users" in record.getMessage()]


def test_a_database_an_earlier_version_left_readable_is_made_private(
    tmp_path: Path, usual_umask: None
) -> None:
    data_dir = tmp_path / "data"
    write_one_call(data_dir)
    for path in data_dir.glob(SQLITE_FILE_NAME + "*"):
        path.chmod(0o644)

    files = write_one_call(data_dir)

    assert files == dict.fromkeys(files, 0o600)
