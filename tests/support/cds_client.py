"""The HTTP tests' client: a Flask test client that signs like an EHR and checks every response for CDS Hooks
conformance (tests/support/conformance.py) before the test looks at it; helpers on its answers."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from support.conformance import assert_cards_response, assert_discovery, assert_operation_outcome
from support.tokens import BASE_URL, ISSUER, token


class CdsClient:
    """A Flask test client that checks every response for CDS Hooks conformance.

    Like an EHR, it signs every request with a fresh JWT of the test issuer (tests/support/tokens.py), for the
    path it calls; a test that sets its own ``Authorization`` header (or ``signed=False``) sends that instead.
    """

    def __init__(self, client: FlaskClient, *, signed: bool = True, base_url: str = BASE_URL) -> None:
        self.client = client
        self.signed = signed
        self.base_url = base_url.rstrip("/")

    def _headers(self, path: str, headers: Any = None) -> dict[str, str]:
        merged = dict(headers or {})
        if self.signed and not any(name.lower() == "authorization" for name in merged):
            merged["Authorization"] = f"Bearer {token(self.base_url + path)}"
        return merged

    def discovery(self) -> TestResponse:
        response = self.client.get("/cds-services", headers=self._headers("/cds-services"))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert_discovery(response.get_json())
        return self.checked(response)

    def call(self, service_id: str, body: Any) -> TestResponse:
        path = f"/cds-services/{service_id}"
        return self.checked(self.client.post(path, json=body, headers=self._headers(path)))

    def feedback(self, service_id: str, body: Any) -> TestResponse:
        path = f"/cds-services/{service_id}/feedback"
        return self.checked(self.client.post(path, json=body, headers=self._headers(path)))

    def raw(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        kwargs["headers"] = self._headers(path.partition("?")[0], kwargs.get("headers"))
        return self.checked(self.client.open(path, method=method, **kwargs))

    @staticmethod
    def checked(response: TestResponse) -> TestResponse:
        assert response.status_code != 500, response.get_data(as_text=True)
        assert response.mimetype == "application/json", response.mimetype
        body = response.get_json()
        if response.status_code >= 400:
            assert_operation_outcome(body)
        elif (
            response.request.method == "POST"
            and response.request.path.startswith("/cds-services/")
            and not response.request.path.endswith("/feedback")
        ):
            assert_cards_response(body)
        return response


def card_codes(response: TestResponse) -> list[str]:
    """The finding codes of a cards response, sorted."""
    return sorted(card["source"]["topic"]["code"] for card in response.get_json()["cards"])


def issue_cards(app: Flask, service_id: str, *uuids: str, issuer: str | None = ISSUER) -> None:
    """Audit cards with these uuids as if ``service_id`` had returned them to ``issuer`` (the test issuer,
    whose tokens CdsClient sends), so feedback can name them."""
    from cds_service.routes import AUDIT_TRAIL
    from cds_service.store import AuditedCard, HookCallRecord

    trail = app.extensions[AUDIT_TRAIL]
    cards = [AuditedCard(uuid, "risk-disclosure", "info") for uuid in uuids]
    trail.store.audit.record(HookCallRecord(trail.now(), service_id, 200, 1.0, cards=cards, issuer=issuer))
