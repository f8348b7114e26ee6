"""The override report: per finding code and period, how many cards were shown, accepted and overridden, and
the override reasons with their counts.

A card counts once, in the period it was first shown. When a card got several outcomes (CDS Hooks allows a
card to be reported more than once), the latest ``outcomeTimestamp`` decides. Feedback is matched to the
audited card, so shown, accepted and overridden are counted over the same cards.
"""

from __future__ import annotations

import csv
import json
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, select

from cds_service.store import schema
from cds_service.store.engine import READ_ONLY

Period = Literal["day", "week", "month"]
NO_REASON = "(no reason given)"
COMMENT_ONLY = "(comment only)"


@dataclass(slots=True)
class ReportRow:
    """One finding code in one period."""

    period: str
    finding_code: str
    shown: int = 0
    accepted: int = 0
    overridden: int = 0
    override_reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """The row for JSON export."""
        return {
            "period": self.period,
            "findingCode": self.finding_code,
            "shown": self.shown,
            "accepted": self.accepted,
            "overridden": self.overridden,
            "overrideReasons": [{"reason": r, "count": n} for r, n in self.override_reasons.most_common()],
        }


def period_key(moment: datetime, period: Period, zone: tzinfo) -> str:
    """The period ``moment`` falls in, in ``zone``: ``2026-11-26``, ``2026-W48`` or ``2026-11``."""
    local = moment.astimezone(zone)
    if period == "day":
        return local.date().isoformat()
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local.year:04d}-{local.month:02d}"


def build_report(
    engine: Engine,
    *,
    since: datetime | None,
    until: datetime | None,
    period: Period,
    zone: tzinfo,
    reason_displays: Mapping[tuple[str, str], str] | None = None,
) -> list[ReportRow]:
    """The report over cards shown in [since, until), sorted by period then finding code."""
    displays = reason_displays or {}
    call, card, fb = schema.hook_call.c, schema.card.c, schema.feedback.c
    window = [call.status == 200]
    if since is not None:
        window.append(call.called_at >= since)
    if until is not None:
        window.append(call.called_at < until)
    rows: dict[tuple[str, str], ReportRow] = {}
    first_shown: dict[tuple[str, str], tuple[str, str]] = {}  # (service, uuid) -> (period, code)
    latest: dict[tuple[str, str], tuple[datetime, int, str, str]] = {}  # -> (time, id, outcome, reason)
    # Rows stream (a server-side cursor on PostgreSQL): memory grows with the cards, not with the rows read.
    options = {READ_ONLY: True, "stream_results": True, "yield_per": 5000}
    with engine.connect().execution_options(**options) as connection:
        shown = connection.execute(
            select(card.service_id, card.card_uuid, card.finding_code, call.called_at)
            .join(schema.hook_call, card.hook_call_id == call.id)
            .where(*window)
            .order_by(call.called_at, card.id)
        )
        for service_id, uuid, code, called_at in shown:
            if (service_id, uuid) not in first_shown:
                key = (period_key(called_at, period, zone), code)
                first_shown[(service_id, uuid)] = key
                rows.setdefault(key, ReportRow(*key)).shown += 1
        outcomes = connection.execute(
            select(
                fb.service_id,
                fb.card_uuid,
                fb.outcome_timestamp,
                fb.id,
                fb.outcome,
                fb.override_reason_system,
                fb.override_reason_code,
                fb.override_comment,
            )
            .join(schema.card, fb.card_id == card.id)
            .join(schema.hook_call, card.hook_call_id == call.id)
            .where(*window)
        )
        for service_id, uuid, when, row_id, outcome, system, code, comment in outcomes:
            reason = _reason(system, code, comment, displays)
            previous = latest.get((service_id, uuid))
            if previous is None or (when, row_id) > previous[:2]:
                latest[(service_id, uuid)] = (when, row_id, outcome, reason)
    for card_key, (_, _, outcome, reason) in latest.items():
        row = rows.get(first_shown.get(card_key, ("", "")))
        if row is None:
            continue
        if outcome == "accepted":
            row.accepted += 1
        else:
            row.overridden += 1
            row.override_reasons[reason] += 1
    return [rows[key] for key in sorted(rows)]


def _reason(
    system: str | None, code: str | None, comment: str | None, displays: Mapping[tuple[str, str], str]
) -> str:
    if system is not None and code is not None:
        display = displays.get((system, code))
        return f"{code} ({display})" if display else f"{system}|{code}"
    return COMMENT_ONLY if comment else NO_REASON


def render_text(rows: Iterable[ReportRow]) -> str:
    """A plain-text table for the terminal (no patient data: codes and counts only)."""
    lines = [f"{'period':<10} {'finding code':<28} {'shown':>7} {'accepted':>8} {'overridden':>10}"]
    for row in rows:
        code = terminal_safe(row.finding_code)
        lines.append(f"{row.period:<10} {code:<28} {row.shown:>7} {row.accepted:>8} {row.overridden:>10}")
        for reason, count in row.override_reasons.most_common():
            lines.append(f"{'':<10}   override reason: {terminal_safe(reason)}: {count}")
    if len(lines) == 1:
        lines.append("(no cards in this period)")
    return "\n".join(lines) + "\n"


def terminal_safe(text: str) -> str:
    """``text`` with every control, format (bidi) or unassigned character written as an escape (``\\x1b``,
    ``\\u202e``): reason codes come from the EHR's feedback, and a terminal obeys escape sequences."""
    return "".join(
        char if unicodedata.category(char)[0] != "C" else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


def write_csv(rows: Iterable[ReportRow], path: Path) -> None:
    """One line per finding code and period; reasons as ``reason=count; ...``."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["period", "finding_code", "shown", "accepted", "overridden", "override_reasons"])
        for row in rows:
            reasons = "; ".join(f"{r}={n}" for r, n in row.override_reasons.most_common())
            cells: list[str | int] = [
                row.period,
                row.finding_code,
                row.shown,
                row.accepted,
                row.overridden,
                reasons,
            ]
            writer.writerow([_inert(cell) for cell in cells])


def _inert(cell: str | int) -> str | int:
    """A text cell a spreadsheet will not run as a formula (codes come from the EHR's feedback)."""
    return "'" + cell if isinstance(cell, str) and cell[:1] in {"=", "+", "-", "@"} else cell


def write_json(rows: Iterable[ReportRow], path: Path, meta: Mapping[str, Any]) -> None:
    """``{"report": {...meta}, "rows": [...]}``."""
    document = {"report": dict(meta), "rows": [row.as_dict() for row in rows]}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
