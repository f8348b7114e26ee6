"""The ``dn-cds`` command: ``serve`` runs the service, ``demo`` plays an EHR with the bundled patients."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

import requests
from werkzeug.serving import make_server

from cds_service.app import create_app, zone_clock
from cds_service.catalog import load_catalog
from cds_service.demo import build_hook_request, load_demo_patients
from cds_service.local_client import sign_service_request
from cds_service.settings import Settings, SettingsError

GUNICORN_ARGS = ["-m", "gunicorn", "-c", "python:cds_service.gunicorn_config", "cds_service.wsgi:app"]


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
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args.host, args.port)
        return _demo(args.url, args.hook)
    except SettingsError as error:
        print(f"dn-cds: {error}", file=sys.stderr)
        return 2


def _serve(host: str | None, port: int | None) -> int:
    if host:
        os.environ["DN_CDS_HOST"] = host
    if port:
        os.environ["DN_CDS_PORT"] = str(port)
    settings = Settings.from_env()  # fail fast, before gunicorn starts workers
    print(
        f"dn-cds: serving {settings.base_url}/cds-services  (try: dn-cds demo --url {settings.base_url})",
        file=sys.stderr,
    )
    os.execv(sys.executable, [sys.executable, *GUNICORN_ARGS])  # noqa: S606 - fixed argv, no shell


@contextmanager
def _embedded_service(today: date, base: Settings) -> Iterator[str]:
    """The service on an ephemeral loopback port, for as long as the block runs, its clock at ``today``.

    It has the default authentication: it trusts the local client key in ``base.data_dir``, which the demo
    signs with.
    """
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("dn_cds").setLevel(logging.ERROR)
    apps: list[Any] = []

    def application(environ: Any, start_response: Any) -> Any:
        return apps[0](environ, start_response)

    server = make_server("127.0.0.1", 0, application, threaded=True)
    settings = dataclasses.replace(
        base,
        host="127.0.0.1",
        port=server.server_port,
        public_base_url="",
        auth="required",
        trusted_issuers=(),
    )
    apps.append(create_app(settings, today=lambda: today))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield settings.base_url
    finally:
        server.shutdown()


def _demo(url: str | None, hook: str) -> int:
    catalog = load_catalog()
    service = next(s for s in catalog.services if s.hook == hook)
    settings = Settings.from_env()
    today = zone_clock(settings.zone)()  # "today" in DN_CDS_TIMEZONE, as the service sees it
    patients = load_demo_patients(today)
    mismatches = 0
    with _embedded_service(today, settings) if url is None else _given(url) as base_url:
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
