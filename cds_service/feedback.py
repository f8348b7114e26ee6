"""Validate CDS Hooks feedback bodies (cds-fb-1..3). Storage: :mod:`cds_service.store.feedback`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from cds_service.errors import BadRequest

# The store's column sizes (cds_service/store/schema.py, checked by a test): a longer value is refused here
# with a 400, rather than failing the insert on PostgreSQL (a 503 the EHR would retry for ever).
MAX_REASON_SYSTEM_CHARS = 512
MAX_REASON_CODE_CHARS = 128
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True, slots=True)
class FeedbackEntry:
    """One validated feedback entry."""

    card: str
    outcome: str
    accepted_suggestions: tuple[str, ...]
    override_code: tuple[str, str] | None
    override_comment: str | None
    outcome_timestamp: str


def parse_feedback(body: Any) -> list[FeedbackEntry]:
    """Check a feedback body; raise :class:`BadRequest` naming the first invalid field."""
    if not isinstance(body, dict):
        raise BadRequest("The feedback body must be a JSON object.")
    items = body.get("feedback")
    if not isinstance(items, list) or not items:
        raise BadRequest("feedback must be a non-empty array.", expression="feedback")
    return [_entry(item, f"feedback[{index}]") for index, item in enumerate(items)]


def _entry(item: Any, path: str) -> FeedbackEntry:
    if not isinstance(item, dict):
        raise BadRequest(f"{path} must be an object.", expression=path)
    card = item.get("card")
    if not isinstance(card, str) or not card.strip():
        raise BadRequest(f"{path}.card (the card uuid) is required.", expression=f"{path}.card")
    outcome = item.get("outcome")
    if not isinstance(outcome, str) or outcome not in {"accepted", "overridden"}:
        raise BadRequest(
            f"{path}.outcome must be 'accepted' or 'overridden' (cds-fb-1).", expression=f"{path}.outcome"
        )
    accepted = _accepted_suggestions(item.get("acceptedSuggestions"), f"{path}.acceptedSuggestions")
    if outcome == "accepted" and not accepted:
        raise BadRequest(
            f"{path}.acceptedSuggestions is required when outcome is accepted (cds-fb-2).",
            expression=f"{path}.acceptedSuggestions",
        )
    override_code, comment = _override_reason(item.get("overrideReason"), f"{path}.overrideReason")
    timestamp = item.get("outcomeTimestamp")
    if not _is_date_time(timestamp):
        raise BadRequest(
            f"{path}.outcomeTimestamp must be an RFC 3339 date-time.", expression=f"{path}.outcomeTimestamp"
        )
    return FeedbackEntry(card.strip(), outcome, accepted, override_code, comment, timestamp)


def outcome_instant(entry: FeedbackEntry) -> datetime:
    """The entry's ``outcomeTimestamp`` as an aware datetime."""
    return _instant(entry.outcome_timestamp)


def _instant(value: str) -> datetime:
    """The instant in UTC (ValueError also when the offset moves it out of the calendar's range)."""
    moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(value) from None


def _is_date_time(value: Any) -> TypeGuard[str]:
    """An RFC 3339 date-time with a zone that names a real instant (no month 13, no 25:00)."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        return False
    try:
        _instant(value)
    except ValueError:
        return False
    return True


def _accepted_suggestions(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise BadRequest(f"{path} must be a non-empty array.", expression=path)
    ids: list[str] = []
    for index, suggestion in enumerate(value):
        suggestion_id = suggestion.get("id") if isinstance(suggestion, dict) else None
        if not isinstance(suggestion_id, str) or not suggestion_id:
            raise BadRequest(f"{path}[{index}].id is required.", expression=f"{path}[{index}].id")
        ids.append(suggestion_id)
    return tuple(ids)


def _override_reason(value: Any, path: str) -> tuple[tuple[str, str] | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise BadRequest(f"{path} must be an object.", expression=path)
    reason, comment = value.get("reason"), value.get("userComment")
    code: tuple[str, str] | None = None
    if reason is not None:
        if (
            not isinstance(reason, dict)
            or not isinstance(reason.get("code"), str)
            or not isinstance(reason.get("system"), str)
        ):
            raise BadRequest(
                f"{path}.reason must be a Coding with system and code.", expression=f"{path}.reason"
            )
        if len(reason["system"]) > MAX_REASON_SYSTEM_CHARS or len(reason["code"]) > MAX_REASON_CODE_CHARS:
            raise BadRequest(
                f"{path}.reason: system is limited to {MAX_REASON_SYSTEM_CHARS} characters and code to"
                f" {MAX_REASON_CODE_CHARS}.",
                expression=f"{path}.reason",
            )
        code = (reason["system"], reason["code"])
    if comment is not None and not isinstance(comment, str):
        raise BadRequest(f"{path}.userComment must be a string.", expression=f"{path}.userComment")
    if code is None and not comment:
        raise BadRequest(f"{path} needs a reason or a userComment (cds-fb-3).", expression=path)
    return code, comment
