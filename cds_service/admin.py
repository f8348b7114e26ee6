"""Administrators' commands: ``dn-cds purge`` (retention) and ``dn-cds report`` (overrides per finding)."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

from cards import load_card_wording
from cds_service.app import utc_now
from cds_service.settings import Settings
from cds_service.store import open_store
from cds_service.store.purge import purge
from cds_service.store.report import build_report, render_text, write_csv, write_json
from fhir_mappings import load_knowledge


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``purge`` and ``report`` on the ``dn-cds`` parser."""
    purge_parser = commands.add_parser(
        "purge",
        help="delete audit records and feedback older than the retention (DN_CDS_AUDIT_RETENTION_DAYS)",
    )
    purge_parser.add_argument("--days", type=int, help="keep this many days (default: the setting)")
    purge_parser.add_argument("--dry-run", action="store_true", help="count what would be deleted")
    report = commands.add_parser(
        "report", help="cards shown, accepted and overridden per finding code and period"
    )
    report.add_argument("--since", type=date.fromisoformat, help="first day (YYYY-MM-DD, DN_CDS_TIMEZONE)")
    report.add_argument("--until", type=date.fromisoformat, help="last day, inclusive (YYYY-MM-DD)")
    report.add_argument(
        "--period", choices=["day", "week", "month"], default="month", help="bucket size (default: month)"
    )
    report.add_argument("--csv", type=Path, help="also write the report as CSV to this file")
    report.add_argument("--json", type=Path, help="also write the report as JSON to this file")


def run_purge(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Delete what is older than the retention; print the counts."""
    settings = settings or Settings.from_env()
    days = settings.audit_retention_days if args.days is None else args.days
    if days < 1:
        print("dn-cds purge: --days must be at least 1", file=sys.stderr)
        return 2
    now = utc_now()
    cutoff = now - timedelta(days=days)
    store = open_store(settings)
    try:
        result = purge(store.engine, cutoff, now, dry_run=args.dry_run)
    finally:
        store.close()
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"dn-cds purge: {verb} {result.hook_calls} hook calls, {result.cards} cards and {result.feedback}"
        f" feedback entries from before {cutoff:%Y-%m-%d %H:%M} UTC (retention {days} days),"
        f" and {result.token_ids} expired token ids"
    )
    return 0


def run_report(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Print the override report; write CSV/JSON when asked."""
    settings = settings or Settings.from_env()
    zone = settings.zone
    since = datetime.combine(args.since, time(), zone) if args.since else None
    until = datetime.combine(args.until + timedelta(days=1), time(), zone) if args.until else None
    knowledge = load_knowledge()
    wording = load_card_wording(knowledge.findings)
    displays = {
        (wording.overrides.system, code): display for code, display in wording.overrides.displays.items()
    }
    store = open_store(settings)
    try:
        rows = build_report(
            store.engine, since=since, until=until, period=args.period, zone=zone, reason_displays=displays
        )
    finally:
        store.close()
    span = f"{args.since or 'start'} to {args.until or 'now'}"
    print(f"Override report, {span}, per {args.period} ({settings.timezone}); knowledge {knowledge.version}")
    print(render_text(rows), end="")
    if args.csv:
        write_csv(rows, args.csv)
        print(f"CSV written to {args.csv}")
    if args.json:
        meta = {"since": str(args.since or ""), "until": str(args.until or ""), "period": args.period,
                "timezone": settings.timezone, "knowledgeVersion": knowledge.version}  # fmt: skip
        write_json(rows, args.json, meta)
        print(f"JSON written to {args.json}")
    return 0
