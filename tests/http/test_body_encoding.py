"""Body handling (issue 15 item 9): a streamed body over the limit is a 413, not cut; only UTF-8 (a UTF-8 byte
order mark is ignored, RFC 8259 8.1); an object naming a key twice is refused."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from flask import Flask
from support.cds_client import CdsClient
from support.clock import TODAY
from support.services import SERVICES
from support.tokens import BASE_URL, issuer_trust, token

from cds_service import Settings, create_app
from cds_service.demo import build_hook_request, load_demo_patients

SERVICE = SERVICES["order-select"]
PATIENT = next(p for p in load_demo_patients(TODAY) if p.slug == "first-trimester")
PATH = f"/cds-services/{SERVICE.id}"
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def small_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    settings = Settings(
        trusted_issuers=(issuer_trust(),), data_dir=tmp_path_factory.mktemp("data"), max_body_bytes=LIMIT
    )
    return create_app(settings, today=lambda: TODAY)


def streamed(app: Flask, data: bytes) -> Any:
    """POST ``data`` as a server hands over a chunked body: no Content-Length, the stream terminated."""
    with app.test_client() as client:
        return client.post(
            PATH,
            input_stream=io.BytesIO(data),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token(BASE_URL + PATH)}", "Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )


def hook_body() -> bytes:
    return json.dumps(build_hook_request(PATIENT, SERVICE)).encode()


def test_a_streamed_body_over_the_limit_is_a_413_not_cut(small_app: Flask) -> None:
    body = hook_body()
    assert len(body) < LIMIT

    padded = streamed(small_app, body + b" " * (LIMIT - len(body) + 1))

    assert padded.status_code == 413
    assert padded.get_json()["resourceType"] == "OperationOutcome"


def test_a_streamed_body_up_to_the_limit_is_read_whole(small_app: Flask) -> None:
    body = hook_body()

    assert streamed(small_app, body).status_code == 200
    assert streamed(small_app, body + b" " * (LIMIT - len(body))).status_code == 200  # exactly the limit


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
def test_utf16_and_utf32_bodies_are_refused(cds: CdsClient, encoding: str) -> None:
    data = json.dumps(build_hook_request(PATIENT, SERVICE)).encode(encoding)

    response = cds.raw("POST", PATH, data=data, content_type="application/json")

    assert response.status_code == 400
    assert "UTF-8" in response.get_json()["issue"][0]["diagnostics"]


def test_a_utf8_byte_order_mark_is_ignored(cds: CdsClient) -> None:
    response = cds.raw("POST", PATH, data=b"\xef\xbb\xbf" + hook_body(), content_type="application/json")

    assert response.status_code == 200


@pytest.mark.parametrize(
    "data",
    [
        b'{"hook": "order-select", "hook": "patient-view"}',
        b'{"context": {"patientId": "a", "patientId": "b"}}',
    ],
)
def test_duplicate_keys_are_refused(cds: CdsClient, data: bytes) -> None:
    response = cds.raw("POST", PATH, data=data, content_type="application/json")

    assert response.status_code == 400
    assert "duplicate key" in response.get_json()["issue"][0]["diagnostics"]


def test_a_duplicate_key_deep_in_a_real_call_is_refused(cds: CdsClient) -> None:
    text = hook_body().decode()
    doubled = text.replace(
        '"resourceType": "ServiceRequest"', '"resourceType": "ServiceRequest", "status": "x"', 1
    )
    assert doubled != text

    response = cds.raw("POST", PATH, data=doubled.encode(), content_type="application/json")

    assert response.status_code == 400
    assert "duplicate key 'status'" in response.get_json()["issue"][0]["diagnostics"]
