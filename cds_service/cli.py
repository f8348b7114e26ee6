"""The ``dn-cds`` command: ``serve`` runs the service, ``demo`` plays an EHR with the bundled patients,
``knowledge`` writes the rule base for clinical review."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from cards import WordingError
from cds_service import admin
from cds_service.app import zone_clock
from cds_service.catalog import load_catalog
from cds_service.demo import build_hook_request, load_demo_patients
from cds_service.embedded import embedded_service
from cds_service.integration_cli import COMMANDS as INTEGRATION_COMMANDS
from cds_service.integration_cli import add_commands as add_integration_commands
from cds_service.integration_cli import run as run_integration
from cds_service.knowledge_report import ReportFormat, build_report, gather_sources, render
from cds_service.local_client import sign_service_request
from cds_service.settings import Settings, SettingsError
from cds_service.store import open_store
from fhir_mappings import KnowledgeError, load_knowledge

# gevent patches the standard library first, then runs gunicorn (see cds_service/gunicorn_config.py)
GUNICORN_ARGS = [
    "-m",
    "gevent.monkey",
    "--module",
    "gunicorn",
    "-c",
    "python:cds_service.gunicorn_config",
    "cds_service.wsgi:app",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dn-cds`` console script."""
    parser = argparse.ArgumentParser(prog="dn-cds", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the service under gunicorn (DN_CDS_* settings)")
    serve.add_argument("--host", help="bind address (default DN_CDS_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default DN_CDS_PORT or 8080)")
    demo = commands.add_parser("demo", help="send each demo patient's order to the service and print cards")
    demo.add_argument("--url", help="service base URL (default: start one in-process on 127.0.0.1)")
    demo.add_argument(
        "--hook", choices=["order-select", "order-sign", "patient-view"], default="order-select"
    )
    admin.add_commands(commands)
    knowledge = commands.add_parser(
        "knowledge", help="write the whole rule base (rules, codes, thresholds, sources) for clinical review"
    )
    knowledge.add_argument("--format", choices=["markdown", "html"], default="markdown")
    knowledge.add_argument("--output", help="file to write (default: standard output)")
    add_integration_commands(commands)  # load-patients, check
    args = parser.parse_args(argv)
    try:
        if args.command in INTEGRATION_COMMANDS:
            return run_integration(args)
        if args.command == "serve":
            return _serve(args.host, args.port)
        if args.command == "purge":
            return admin.run_purge(args)
        if args.command == "report":
            return admin.run_report(args)
        if args.command == "knowledge":
            return _knowledge(args.format, args.output)
        return _demo(args.url, args.hook)
    except (SettingsError, KnowledgeError) as error:
        print(f"dn-cds: {error}", file=sys.stderr)
        return 2


def _serve(host: str | None, port: int | None) -> int:
    if host:
        os.environ["DN_CDS_HOST"] = host
    if port:
        os.environ["DN_CDS_PORT"] = str(port)
    settings = Settings.from_env()  # fail fast, before gunicorn starts workers
    load_knowledge(policy_file=settings.policy_file)  # a bad DN_CDS_POLICY_FILE stops here, not in a worker
    open_store(
        settings
    ).close()  # an unreachable database stops here with a message, not a gunicorn traceback
    print(
        f"dn-cds: serving {settings.base_url}/cds-services  (try: dn-cds demo --url {settings.base_url})",
        file=sys.stderr,
    )
    os.execv(sys.executable, [sys.executable, *GUNICORN_ARGS])  # noqa: S606 - fixed argv, no shell


def _demo(url: str | None, hook: str) -> int:
    catalog = load_catalog()
    service = next(s for s in catalog.services if s.hook == hook)
    settings = Settings.from_env()
    today = zone_clock(settings.zone)()  # "today" in DN_CDS_TIMEZONE, as the service sees it
    patients = load_demo_patients(today)
    mismatches = 0
    with embedded_service(settings, today) if url is None else _given(url) as base_url:
        endpoint = f"{base_url.rstrip('/')}/cds-services/{service.id}"
        print(f"Service: {endpoint}\n")
        with requests.Session() as session:
            for patient in patients:
                body = build_hook_request(patient, service)
                headers = sign_service_request(endpoint, data_dir=settings.data_dir)
                response = session.post(endpoint, json=body, headers=headers, timeout=10)
                cards = response.json().get("cards", []) if response.ok else []
                codes = sorted(card["source"]["topic"]["code"] for card in cards)
                expected = sorted(patient.expected_findings) if hook == "order-select" else codes
                verdict = "as expected" if codes == expected else f"EXPECTED {expected}"
                mismatches += codes != expected
                print(f"== {patient.title} [{patient.slug}]  HTTP {response.status_code}, {verdict}")
                print(textwrap.indent(_render_cards(cards, response), "   "))
                if response.status_code == 401:
                    print(
                        _UNAUTHORIZED_HINT.format(url=base_url, data_dir=settings.data_dir), file=sys.stderr
                    )
                    return 1
    print(f"{len(patients)} patients, {mismatches} differing from the expected findings.")
    return 1 if mismatches else 0


def _knowledge(report_format: ReportFormat, output: str | None) -> int:
    try:
        policy_file = Settings.from_env().policy_file
        text = render(build_report(gather_sources(policy_file=policy_file)), report_format)
    except (KnowledgeError, WordingError, SettingsError) as error:
        print(f"dn-cds: {error}", file=sys.stderr)
        return 2
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"dn-cds: cannot write {output}: {error.strerror}", file=sys.stderr)
        return 2
    print(f"dn-cds: wrote the rule base ({report_format}) to {output}", file=sys.stderr)
    return 0


_UNAUTHORIZED_HINT = """\
dn-cds demo: the service refused the demo's token (401). The demo signs as the local client with the key in
{data_dir}. The service trusts that key only when it runs with the same DN_CDS_DATA_DIR and without
DN_CDS_TRUSTED_ISSUERS, and the token's audience is built from --url, so {url} must equal the service's
DN_CDS_PUBLIC_BASE_URL (default http://<DN_CDS_HOST>:<DN_CDS_PORT>)."""


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


def _render_cards(cards: list[dict[str, Any]], response: requests.Response) -> str:
    if not response.ok:
        return f"error: {response.text[:300]}"
    if not cards:
        return "(no cards)"
    lines = []
    for card in cards:
        lines.append(
            f"[{card['indicator'].upper():8}] {card['summary']}  <{card['source']['topic']['code']}>"
        )
        for suggestion in card.get("suggestions", []):
            lines.append(f"             suggestion: {suggestion['label']}")
        evidence = card.get("extension", {}).get("dn-cds.evidence")
        if evidence:
            lines.append(f"             evidence: {', '.join(evidence)}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
