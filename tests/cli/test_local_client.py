"""The local client identity that ``dn-cds demo`` and ``check`` sign with (the embedded default)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest

from cds_service.local_client import (
    LOCAL_ISSUER,
    PRIVATE_KEY_FILE,
    audience,
    ensure_local_key,
    local_issuer_trust,
    public_jwk,
    sign_service_request,
)


def test_the_key_is_created_once_even_when_processes_race(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    keys: list[int] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        keys.append(ensure_local_key(data_dir).private_numbers().private_value)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(keys)) == 1
    assert (data_dir / PRIVATE_KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert data_dir.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in data_dir.iterdir()) == [PRIVATE_KEY_FILE]  # no temporary files left


def test_signed_headers_carry_a_fresh_es384_token_for_the_endpoint(tmp_path: Path) -> None:
    moment = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    url = "https://cds.example.org/cds-services/dry-needling-order-select/?x=1"

    first = sign_service_request(url, data_dir=tmp_path, tenant="t1", now=lambda: moment)
    second = sign_service_request(url, data_dir=tmp_path, now=lambda: moment)

    token = first["Authorization"].removeprefix("Bearer ")
    header = jwt.get_unverified_header(token)
    key = ensure_local_key(tmp_path).public_key()
    claims = jwt.decode(
        token, key, algorithms=["ES384"], audience=audience(url), options={"verify_exp": False}
    )
    assert header == {"alg": "ES384", "kid": public_jwk(ensure_local_key(tmp_path))["kid"], "typ": "JWT"}
    assert claims["iss"] == LOCAL_ISSUER
    assert claims["aud"] == "https://cds.example.org/cds-services/dry-needling-order-select"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["tenant"] == "t1"
    assert first != second  # a new jti every time


def test_the_trusted_jwks_is_the_public_half_only(tmp_path: Path) -> None:
    trust = local_issuer_trust(tmp_path)

    assert trust.issuer == LOCAL_ISSUER
    assert trust.jwks_file is not None
    text = trust.jwks_file.read_text()
    assert '"d"' not in text
    assert trust.jwks_file.stat().st_mode & 0o777 == 0o644


def test_sign_uses_dn_cds_data_dir_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DN_CDS_DATA_DIR", str(tmp_path / "env-data"))

    sign_service_request("http://127.0.0.1:8080/cds-services")

    assert (tmp_path / "env-data" / PRIVATE_KEY_FILE).exists()
