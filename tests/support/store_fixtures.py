"""Fixtures that run the same store tests on SQLite and on a real PostgreSQL server.

Without PostgreSQL server binaries the PostgreSQL tests FAIL (CI must not skip them silently), unless
``DN_CDS_TEST_POSTGRESQL=skip``. scripts/install-postgresql.sh installs Debian's postgresql package.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cds_service.settings import Settings
from cds_service.store import Store, open_store
from support.postgresql import PostgresServer, find_bindir, start_server
from support.tokens import issuer_trust

POSTGRESQL_MODE = os.environ.get("DN_CDS_TEST_POSTGRESQL", "").strip().lower()  # read before env is cleared
PSEUDONYM_KEY = "test-pseudonym-key-0123456789abcdef"
DATABASES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL server for the test session (started on first use)."""
    bindir = find_bindir()
    if bindir is None or not (bindir / "postgres").exists():
        message = (
            "PostgreSQL server binaries (initdb, postgres) not found: run scripts/install-postgresql.sh, or"
            " set DN_CDS_TEST_POSTGRESQL_BIN to their directory (DN_CDS_TEST_POSTGRESQL=skip skips them)"
        )
        if POSTGRESQL_MODE == "skip":
            pytest.skip(message)
        pytest.fail(message)
    server = start_server(bindir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=DATABASES)
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings naming a fresh, empty database: an SQLite file, or a new database on the test server."""
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgresql_server").create_database()
    return Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        pseudonym_key=PSEUDONYM_KEY,
        trusted_issuers=(issuer_trust(),),  # the conformance-checking test client signs as this issuer
    )


@pytest.fixture
def store(store_settings: Settings) -> Iterator[Store]:
    """An opened (migrated) store on each database."""
    opened = open_store(store_settings)
    try:
        yield opened
    finally:
        opened.close()
