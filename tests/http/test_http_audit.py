"""The audit and feedback through the HTTP edge, on SQLite and PostgreSQL: every hook call recorded before
its answer, feedback linked to the cards the service returned, 503 when the store cannot be written."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Row
from support.cds_client import CdsClient
from support.clock import TODAY
from support.services import SERVICES
from support.store_fixtures import PSEUDONYM_KEY

from cds_service import create_app
from cds_service.demo import DemoPatient, build_hook_request, load_demo_patients
from cds_service.feedback import MAX_REASON_CODE_CHARS, MAX_REASON_SYSTEM_CHARS
from cds_service.patient_data import FetchResult
from cds_service.store import Store, schema
from cds_service.store.engine import create_store_engine

SERVICE = SERVICES["order-select"]
PATIENTS = {p.slug: p for p in load_demo_patients(TODAY)}
TOKEN = "secret-access-token-value-0123456789"  # noqa: S105 - a fake, to look for


@pytest.fixture
def client(store: Store, store_settings: Any) -> Iterator[CdsClient]:
    app = create_app(store_settings, today=lambda: TODAY, store=store)
    with app.test_client() as flask_client:
        yield CdsClient(flask_client)


def hook_call(patient: DemoPatient, **kw: Any) -> dict[str, Any]:
    body = build_hook_request(patient, SERVICE, **kw)
    body["fhirServer"] = "https://ehr.example.org/fhir"
    body["fhirAuthorization"] = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "dn-cds",
    }
    return body


def all_rows(store: Store) -> list[Row[Any]]:
    with store.engine.connect() as connection:
        return [
            row
            for table in (schema.hook_call, schema.card, schema.feedback, schema.token_use)
            for row in connection.execute(select(table))
        ]


def calls(store: Store) -> list[Row[Any]]:
    with store.engine.connect() as connection:
        return list(connection.execute(select(schema.hook_call).order_by(schema.hook_call.c.id)))


def test_a_hook_call_is_audited_without_patient_id_or_token(client: CdsClient, store: Store) -> None:
    patient = PATIENTS["first-trimester"]
    body = hook_call(patient)

    response = client.call(SERVICE.id, body)

    assert response.status_code == 200
    cards = response.get_json()["cards"]
    [call] = calls(store)
    assert call.service_id == SERVICE.id
    assert call.hook == "order-select"
    assert call.hook_instance == body["hookInstance"]
    assert call.status == 200
    assert (
        call.patient_pseudonym
        == hmac.new(PSEUDONYM_KEY.encode(), patient.patient_id.encode(), hashlib.sha256).hexdigest()
    )
    assert call.finding_codes == [card["source"]["topic"]["code"] for card in cards]
    assert call.knowledge_version
    assert call.data_completeness == {}
    assert call.latency_ms > 0
    with store.engine.connect() as connection:
        stored = connection.execute(select(schema.card.c.card_uuid, schema.card.c.evidence)).all()
    assert [uuid for uuid, _ in stored] == [card["uuid"] for card in cards]
    assert [evidence for _, evidence in stored] == [
        card.get("extension", {}).get("dn-cds.evidence", []) for card in cards
    ]
    assert TOKEN not in repr(all_rows(store))
    # The patient id itself is nowhere; evidence references are the EHR's own Type/id references (the demo's
    # resource ids happen to embed the patient's slug, hence the call row alone is checked for it).
    assert patient.patient_id not in repr(tuple(call))


def test_a_call_without_usable_data_is_audited_with_what_was_missing(client: CdsClient, store: Store) -> None:
    response = client.call(SERVICE.id, hook_call(PATIENTS["eligible"], with_prefetch=False))

    assert response.status_code == 412
    [call] = calls(store)
    assert call.status == 412
    assert call.finding_codes == []
    assert call.data_completeness == {
        key: {"prefetch": "missing", "fhirServer": "not fetchable"} for key in SERVICE.prefetch
    }


class HalfFetcher:
    """Reads the first missing key (no resources on file), fails on the others."""

    def fetch(self, request: Any, service: Any, missing: Any) -> FetchResult:
        first, *others = list(missing)
        return FetchResult({first: []}, {key: "timed out" for key in others})


def test_what_fhirserver_supplied_is_part_of_the_completeness(store: Store, store_settings: Any) -> None:
    app = create_app(store_settings, today=lambda: TODAY, store=store, fetcher=HalfFetcher())
    body = hook_call(PATIENTS["eligible"], with_prefetch=False)
    with app.test_client() as flask_client:
        response = CdsClient(flask_client).call(SERVICE.id, body)

    assert response.status_code == 200
    [call] = calls(store)
    first, *others = list(SERVICE.prefetch)
    assert call.data_completeness == {
        first: {"prefetch": "missing", "fhirServer": "read"},
        **{key: {"prefetch": "missing", "fhirServer": "timed out"} for key in others},
    }
    assert "patient-data-incomplete" in call.finding_codes


def test_a_malformed_call_is_audited_as_such(client: CdsClient, store: Store) -> None:
    assert client.call(SERVICE.id, {"hook": "order-select"}).status_code == 400

    [call] = calls(store)
    assert (call.status, call.hook, call.patient_pseudonym) == (400, None, None)


def test_feedback_on_a_returned_card_is_stored_once(client: CdsClient, store: Store) -> None:
    cards = client.call(SERVICE.id, hook_call(PATIENTS["first-trimester"])).get_json()["cards"]
    critical = next(card for card in cards if card["indicator"] == "critical")
    feedback = {
        "feedback": [
            {
                "card": critical["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": critical["overrideReasons"][0], "userComment": "discussed"},
                "outcomeTimestamp": "2026-11-26T10:05:31Z",
            }
        ]
    }

    first = client.feedback(SERVICE.id, feedback)
    again = client.feedback(SERVICE.id, feedback)

    assert (first.status_code, again.status_code) == (200, 200)
    with store.engine.connect() as connection:
        rows = connection.execute(select(schema.feedback, schema.card.c.finding_code).join(schema.card)).all()
    assert [(r.card_uuid, r.finding_code, r.override_reason_code) for r in rows] == [
        (critical["uuid"], critical["source"]["topic"]["code"], critical["overrideReasons"][0]["code"])
    ]


def test_an_unwritable_store_is_a_503_for_calls_and_feedback(store: Store, store_settings: Any) -> None:
    url = store.engine.url
    broken_url = (
        url.set(database=str(store_settings.data_dir / "missing-dir-file" / "x.sqlite3"))
        if url.get_backend_name() == "sqlite"
        else url.set(port=1)
    )
    broken = Store(create_store_engine(broken_url), store.pseudonymizer)
    if url.get_backend_name() == "sqlite":
        (store_settings.data_dir / "missing-dir-file" / "x.sqlite3").unlink()  # the engine made it, empty
        (store_settings.data_dir / "missing-dir-file").rmdir()
        (store_settings.data_dir / "missing-dir-file").write_text("not a directory")
    app = create_app(store_settings, today=lambda: TODAY, store=broken)
    with app.test_client() as flask_client:
        client = CdsClient(flask_client)
        call = client.call(SERVICE.id, hook_call(PATIENTS["eligible"]))
        feedback = client.feedback(
            SERVICE.id,
            {
                "feedback": [
                    {
                        "card": "x",
                        "outcome": "overridden",
                        "overrideReason": {"userComment": "no"},
                        "outcomeTimestamp": "2026-11-26T10:05:31Z",
                    }
                ]
            },
        )
    broken.close()

    for response in (call, feedback):
        assert response.status_code == 503
        assert response.get_json()["issue"][0]["code"] == "transient"
        assert TOKEN not in response.get_data(as_text=True)


def test_override_reason_codes_longer_than_the_store_keeps_are_a_400_on_every_database(
    client: CdsClient, store: Store
) -> None:
    """PostgreSQL refuses a value longer than its column (SQLite does not): the limit is checked first, so
    the answer is a 400 naming the field on both, never a 503 the EHR would keep retrying."""
    columns = schema.feedback.c
    assert (columns.override_reason_system.type.length, columns.override_reason_code.type.length) == (
        MAX_REASON_SYSTEM_CHARS,
        MAX_REASON_CODE_CHARS,
    )
    [card, *_] = client.call(SERVICE.id, hook_call(PATIENTS["first-trimester"])).get_json()["cards"]

    def feedback(system: str, code: str, second: int) -> Any:
        entry = {
            "card": card["uuid"],
            "outcome": "overridden",
            "overrideReason": {"reason": {"system": system, "code": code}},
            "outcomeTimestamp": f"2026-11-26T10:05:{second:02d}Z",
        }
        return client.feedback(SERVICE.id, {"feedback": [entry]})

    longest = feedback("s" * MAX_REASON_SYSTEM_CHARS, "c" * MAX_REASON_CODE_CHARS, 1)
    long_code = feedback("http://x", "c" * (MAX_REASON_CODE_CHARS + 1), 2)
    long_system = feedback("s" * (MAX_REASON_SYSTEM_CHARS + 1), "c", 3)

    assert longest.status_code == 200
    for response in (long_code, long_system):
        assert response.status_code == 400
        assert response.get_json()["issue"][0]["expression"] == ["feedback[0].overrideReason.reason"]
    with store.engine.connect() as connection:
        assert len(connection.execute(select(schema.feedback)).all()) == 1
