"""``dn-cds load-patients`` and ``dn-cds check``: the service against a real FHIR server (HAPI, SMART, local).

- ``load-patients --fhir-server URL`` uploads the bundled synthetic demo patients (charts only, dates shifted
  to today) as one FHIR transaction.
- ``check --fhir-server URL --patient ID`` plays the EHR: reads the Patient, builds a draft dry-needling order
  (CPT 20560, optional SNOMED body site), calls the service with **no prefetch** (so the service reads the
  FHIR server itself, with the token when one is given) and prints the cards.

Every hook call goes through :func:`post_hook`.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from typing import Any

import requests

from cds_service.app import zone_clock
from cds_service.catalog import load_catalog
from cds_service.demo import load_demo_patients
from cds_service.embedded import embedded_service
from cds_service.fhir_client import FHIR_JSON
from cds_service.local_client import sign_service_request
from cds_service.settings import Settings, fhir_server_allowlist

COMMANDS = ("load-patients", "check")
HOOKS = ("order-select", "order-sign", "patient-view")
CPT = "http://www.ama-assn.org/go/cpt"
SNOMED = "http://snomed.info/sct"
CHECK_USER = "Practitioner/dn-cds-check"
CHECK_ORDER_ID = "dn-cds-check-order"
TIMEOUT = 30


def add_commands(commands: Any) -> None:
    """Register the subcommands on ``dn-cds``'s subparsers."""
    load = commands.add_parser("load-patients", help="upload the synthetic demo patients to a FHIR server")
    load.add_argument("--fhir-server", required=True, help="FHIR R4 base URL")
    load.add_argument("--token", help="bearer access token for the FHIR server (optional)")
    check = commands.add_parser(
        "check", help="play the EHR: order dry needling for a patient on a FHIR server and print the cards"
    )
    check.add_argument("--fhir-server", required=True, help="FHIR R4 base URL the service reads")
    check.add_argument("--patient", required=True, help="Patient id on that server")
    check.add_argument("--body-site", help="SNOMED CT body site code for the order (e.g. 37822005)")
    check.add_argument("--token", help="bearer access token, sent as fhirAuthorization (optional)")
    check.add_argument(
        "--hook",
        choices=HOOKS,
        default="order-select",
        help="the CDS Hooks hook to call (default: order-select)",
    )
    check.add_argument(
        "--url",
        help="service base URL (default: start one in-process on 127.0.0.1 that may read --fhir-server)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``load-patients`` or ``check``."""
    server = args.fhir_server.rstrip("/")
    if args.command == "load-patients":
        return load_patients(server, args.token)
    return check(server, args.patient, args.body_site, args.token, args.url, args.hook)


def load_patients(fhir_server: str, token: str | None = None, today: date | None = None) -> int:
    """Upload every demo patient's chart (not the draft orders) as one transaction; 0 on success."""
    today = today or zone_clock(Settings.from_env().zone)()
    patients = load_demo_patients(today)
    entries = [
        {
            "fullUrl": f"{fhir_server}/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
            "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
        }
        for patient in patients
        for resource in patient.chart
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON, **_authorization(token)}
    try:
        response = requests.post(fhir_server, json=bundle, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as error:
        print(f"dn-cds: cannot reach {fhir_server}: {type(error).__name__}", file=sys.stderr)
        return 1
    if not response.ok:
        print(f"dn-cds: the transaction failed: HTTP {response.status_code}", file=sys.stderr)
        print(response.text[:500], file=sys.stderr)
        return 1
    print(f"Loaded {len(entries)} resources of {len(patients)} demo patients into {fhir_server}:")
    for patient in patients:
        print(f"  {patient.patient_id:28} {patient.title}")
    return 0


def post_hook(url: str, body: dict[str, Any]) -> requests.Response:
    """POST one hook call to the service (the single place where calls to the service leave this command)."""
    return requests.post(url, json=body, headers=sign_service_request(url), timeout=TIMEOUT)


def check(
    fhir_server: str,
    patient_id: str,
    body_site: str | None,
    token: str | None,
    url: str | None,
    hook: str = "order-select",
) -> int:
    """Call the service for the patient with no prefetch; print the cards. 0 when the service answered 200."""
    # The in-process service may read only this server: https, or http on loopback (checked before any call).
    allowlist = fhir_server_allowlist(fhir_server) if url is None else ()
    try:
        patient = requests.get(
            f"{fhir_server}/Patient/{patient_id}",
            headers={"Accept": FHIR_JSON, **_authorization(token)},
            timeout=TIMEOUT,
        )
    except requests.RequestException as error:
        print(f"dn-cds: cannot reach {fhir_server}: {type(error).__name__}", file=sys.stderr)
        return 1
    if patient.status_code != 200:
        print(f"dn-cds: Patient/{patient_id} on {fhir_server}: HTTP {patient.status_code}", file=sys.stderr)
        return 1
    service = next(s for s in load_catalog().services if s.hook == hook)
    body = check_request(fhir_server, patient_id, hook, body_site, token)
    with (
        embedded_service(replace(Settings.from_env(), fhir_server_allowlist=allowlist))
        if url is None
        else _given(url) as base_url
    ):
        endpoint = f"{base_url.rstrip('/')}/cds-services/{service.id}"
        print(f"Service: {endpoint}\nFHIR server: {fhir_server}  Patient/{patient_id}  hook: {hook}\n")
        response = post_hook(endpoint, body)
    if response.status_code != 200:
        print(f"HTTP {response.status_code}: {response.text[:1000]}")
        return 1
    cards = response.json().get("cards", [])
    print(f"HTTP 200, {len(cards)} card(s)")
    print(textwrap.indent(render_cards(cards), "  "))
    return 0


def check_request(
    fhir_server: str, patient_id: str, hook: str, body_site: str | None, token: str | None
) -> dict[str, Any]:
    """The hook call body: a draft dry-needling order for the patient, ``fhirServer``, no prefetch."""
    context: dict[str, Any] = {"userId": CHECK_USER, "patientId": patient_id}
    if hook != "patient-view":
        order: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "id": CHECK_ORDER_ID,
            "status": "draft",
            "intent": "order",
            "code": {"coding": [{"system": CPT, "code": "20560", "display": "Dry needling, 1-2 muscles"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
        }
        if body_site:
            order["bodySite"] = [{"coding": [{"system": SNOMED, "code": body_site}]}]
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": order}],
        }
        if hook == "order-select":
            context["selections"] = [f"ServiceRequest/{CHECK_ORDER_ID}"]
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_server,
        "context": context,
    }
    if token:
        body["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/Condition.read patient/Observation.read",
            "subject": "dn-cds",
        }
    return body


def render_cards(cards: list[dict[str, Any]]) -> str:
    """One block per card: indicator, summary, finding code, and the why of missing-data cards."""
    if not cards:
        return "(no cards)"
    lines = []
    for card in cards:
        lines.append(
            f"[{card['indicator'].upper():8}] {card['summary']}  <{card['source']['topic']['code']}>"
        )
        evidence = card.get("extension", {}).get("dn-cds.evidence")
        if evidence:
            lines.append(f"             evidence: {', '.join(evidence)}")
    return "\n".join(lines)


def _authorization(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url
