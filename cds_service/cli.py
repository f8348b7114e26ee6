"""The dn-cds command: serve runs the service, demo plays an EHR with the bundled patients, knowledge writes
the rule base for clinical review, purge and report manage the audit store, load-patients and check try the
service against a FHIR server."""

from __future__ import annotations

import argparse
import errno
import json
import os
import socket
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import requests

from cards import WordingError
from cds_service import admin
from cds_service.app import zone_clock
from cds_service.card_html import HookCards, PatientCards, render_preview_html
from cds_service.catalog import load_catalog
from cds_service.demo import build_hook_request, load_demo_patients
from cds_service.embedded import embedded_service
from cds_service.integration_cli import COMMANDS as INTEGRATION_COMMANDS
from cds_service.integration_cli import add_commands as add_integration_commands
from cds_service.integration_cli import run as run_integration
from cds_service.knowledge_report import ReportFormat, build_report, gather_sources, render
from cds_service.local_client import sign_service_request
from cds_service.preview import PREVIEW_TITLE
from cds_service.settings import Settings, SettingsError
from cds_service.store import open_store
from fhir_mappings import KnowledgeError, load_knowledge

HOOKS = ["order-select", "order-sign", "patient-view"]
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


def build_parser() -> argparse.ArgumentParser:
    """The ``dn-cds`` argument parser, with every subcommand (also used to check the README's commands)."""
    parser = argparse.ArgumentParser(prog="dn-cds", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('dn-cds')}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the service under gunicorn (DN_CDS_* settings)")
    serve.add_argument("--host", help="bind address (default DN_CDS_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default DN_CDS_PORT or 8080)")
    demo = commands.add_parser("demo", help="send each demo patient's order to the service and print cards")
    demo.add_argument("--url", help="service base URL (default: start one in-process on 127.0.0.1)")
    demo.add_argument(
        "--hook",
        choices=HOOKS,
        default="order-select",
        help="the CDS Hooks hook to call (default: order-select)",
    )
    demo.add_argument("--detail", action="store_true", help="print each card's detail (markdown) as well")
    demo.add_argument("--json", action="store_true", help="print the cards as JSON instead of text")
    demo.add_argument(
        "--html",
        metavar="FILE",
        help="also write every patient's cards on every hook as an HTML page (as an EHR shows them)",
    )
    admin.add_commands(commands)
    knowledge = commands.add_parser(
        "knowledge", help="write the whole rule base (rules, codes, thresholds, sources) for clinical review"
    )
    knowledge.add_argument(
        "--format", choices=["markdown", "html"], default="markdown", help="output format (default: markdown)"
    )
    knowledge.add_argument("--output", help="file to write (default: standard output)")
    add_integration_commands(commands)  # load-patients, check
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dn-cds`` console script: every failure ends with one line and a non-zero exit."""
    args = build_parser().parse_args(argv)
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
        return _demo(args.url, args.hook, detail=args.detail, as_json=args.json, html_file=args.html)
    except (SettingsError, KnowledgeError) as error:
        print(f"dn-cds: {error}", file=sys.stderr)
        return 2
    except requests.ConnectionError as error:
        print(
            f"dn-cds {args.command}: cannot reach {_request_url(error)}: connection refused or no route",
            file=sys.stderr,
        )
        return 1
    except requests.Timeout as error:
        print(f"dn-cds {args.command}: no answer in time from {_request_url(error)}", file=sys.stderr)
        return 1
    except requests.RequestException as error:
        print(f"dn-cds {args.command}: HTTP request failed: {type(error).__name__}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as error:
        print(f"dn-cds {args.command}: {error}", file=sys.stderr)
        return 1


def _request_url(error: requests.RequestException) -> str:
    """The URL a failed request went to, without query (which could name a patient)."""
    request = error.request
    url = getattr(request, "url", None) or "the server"
    return str(url).partition("?")[0]


class PortInUse(OSError):
    """The address ``dn-cds serve`` should listen on is taken."""


def _check_can_bind(host: str, port: int) -> None:
    """Fail at once, with a clear message, when the address is taken (gunicorn would retry for 5 s, then
    print a traceback)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"cannot listen on {host}:{port}: the port is in use (set DN_CDS_PORT or --port)"
                ) from None
            raise OSError(f"cannot listen on {host}:{port}: {error.strerror}") from None


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
    _check_can_bind(settings.host, settings.port)
    # gunicorn announces "dn-cds: serving ..." once it listens (gunicorn_config.when_ready).
    os.execv(sys.executable, [sys.executable, *GUNICORN_ARGS])  # noqa: S606 - fixed argv, no shell


def _demo(
    url: str | None, hook: str, *, detail: bool = False, as_json: bool = False, html_file: str | None = None
) -> int:
    catalog = load_catalog()
    settings = Settings.from_env()
    today = zone_clock(settings.zone)()  # "today" in DN_CDS_TIMEZONE, as the service sees it
    patients = load_demo_patients(today)
    hooks = HOOKS if html_file else [hook]
    mismatches = 0
    results: dict[tuple[str, str], HookCards] = {}
    report: list[dict[str, Any]] = []
    with embedded_service(settings, today) if url is None else _given(url) as base_url:
        with requests.Session() as session:
            for current in hooks:
                service = next(s for s in catalog.services if s.hook == current)
                endpoint = f"{base_url.rstrip('/')}/cds-services/{service.id}"
                shown = current == hook and not as_json
                if shown:
                    print(f"Service: {endpoint}\n")
                for patient in patients:
                    body = build_hook_request(patient, service)
                    headers = sign_service_request(endpoint, data_dir=settings.data_dir)
                    response = session.post(endpoint, json=body, headers=headers, timeout=10)
                    cards = response.json().get("cards", []) if response.ok else []
                    error = None if response.ok else f"HTTP {response.status_code}"
                    results[(patient.slug, current)] = HookCards(current, tuple(cards), error)
                    if response.status_code == 401:
                        print(
                            _UNAUTHORIZED_HINT.format(url=base_url, data_dir=settings.data_dir),
                            file=sys.stderr,
                        )
                        return 1
                    if current != hook:
                        continue
                    codes = sorted(card["source"]["topic"]["code"] for card in cards)
                    expected = sorted(patient.expected_findings) if hook == "order-select" else codes
                    mismatches += codes != expected
                    verdict = "as expected" if codes == expected else f"EXPECTED {expected}"
                    report.append(
                        {"patient": patient.slug, "title": patient.title, "status": response.status_code}
                        | {"verdict": verdict, "cards": cards}
                    )
                    if shown:
                        print(f"== {patient.title} [{patient.slug}]  HTTP {response.status_code}, {verdict}")
                        print(textwrap.indent(_render_cards(cards, response, detail), "   "))
    if as_json:
        print(json.dumps({"hook": hook, "patients": report}, indent=1, ensure_ascii=False))
    else:
        print(f"{len(patients)} patients, {mismatches} differing from the expected findings.")
    if html_file:
        page = render_preview_html(
            [
                PatientCards(p.slug, p.title, p.description, tuple(results[(p.slug, h)] for h in hooks))
                for p in patients
            ],
            title=PREVIEW_TITLE,
            intro=f"Cards returned by {base_url} on {today.isoformat()} for the bundled synthetic demo "
            "patients, on every hook.",
        )
        try:
            Path(html_file).write_text(page, encoding="utf-8")
        except OSError as error:
            print(f"dn-cds: cannot write {html_file}: {error.strerror}", file=sys.stderr)
            return 2
        print(f"dn-cds: wrote the cards of every demo patient on every hook to {html_file}", file=sys.stderr)
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


def _render_cards(cards: list[dict[str, Any]], response: requests.Response, detail: bool = False) -> str:
    if not response.ok:
        return f"error: {response.text[:300]}"
    if not cards:
        return "(no cards)"
    lines = []
    for card in cards:
        lines.append(
            f"[{card['indicator'].upper():8}] {card['summary']}  <{card['source']['topic']['code']}>"
        )
        if detail:
            lines.append(textwrap.indent(card.get("detail", ""), "             "))
        for suggestion in card.get("suggestions", []):
            lines.append(f"             suggestion: {suggestion['label']}")
        for reason in card.get("overrideReasons", []):
            lines.append(f"             override reason: {reason['display']}")
        evidence = card.get("extension", {}).get("dn-cds.evidence")
        if evidence:
            lines.append(f"             evidence: {', '.join(evidence)}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
