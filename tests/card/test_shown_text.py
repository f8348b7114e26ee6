"""Text that reaches people (issue 15 item 8): card detail and summary, the card's extension, JSON log lines
and the ``dn-cds report`` terminal output. No control or bidi characters, no links made of e-mail addresses,
bounded lengths, escapes for terminals."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from test_cards_builder import LUMBAR_ORDER, _context, _finding, _orders

from cards import build_cards, load_card_wording
from cards.builder import EXTENSION_EVIDENCE, MAX_DETAIL_CHARS, MAX_SHOWN_CHARS, markdown_text
from cds_service.logs import JsonFormatter
from cds_service.store.report import ReportRow, render_text
from fhir_mappings import Evidence, FindingKind, Knowledge

INVISIBLE = ["\u202e", "\x00", "\u2066", "\u200b", "\x1b", "\x85", "\u2028"]


def build(knowledge: Knowledge, **finding: Any) -> dict[str, Any]:
    wording = load_card_wording(knowledge.findings)
    [card] = build_cards(
        [_finding("bleeding-disorder", FindingKind.CONTRAINDICATION, LUMBAR_ORDER, **finding)],
        _orders(),
        _context(knowledge),
        wording,
    )
    return card


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call jane.doe@example.org", "call jane.doe\\@example.org"),
        ("mailto:jane@example.org", "mailto\\:jane\\@example.org"),
        ("xmpp:ward@example.org", "xmpp\\:ward\\@example.org"),
    ],
)
def test_email_addresses_and_mailto_do_not_become_links(text: str, expected: str) -> None:
    assert markdown_text(text) == expected


def test_control_and_bidi_characters_never_reach_the_card(knowledge: Knowledge) -> None:
    hostile = "Hemo\u202ephilia\x00 A\u2066\u200b\x1b[31m"
    card = build(
        knowledge,
        facts={"condition": hostile},
        evidence=(Evidence("Condition/cond-1", f"{hostile} (D66)"),),
    )

    for char in INVISIBLE:
        assert char not in card["detail"], repr(char)
        assert char not in card["summary"], repr(char)
    assert "Hemophilia A" in card["summary"]


def test_a_huge_value_from_the_ehr_is_cut_and_the_detail_bounded(knowledge: Knowledge) -> None:
    card = build(
        knowledge,
        facts={"condition": "u" * 250_000},
        evidence=tuple(Evidence(f"Condition/c{index}", "x" * 1000) for index in range(500)),
    )

    assert len(card["detail"]) <= MAX_DETAIL_CHARS
    assert "u" * (MAX_SHOWN_CHARS + 1) not in card["detail"]
    assert "**What to do:**" in card["detail"]  # before the record, so never cut
    assert "**Source:**" in card["detail"]  # the closing section always stays


def test_references_with_markup_stay_out_of_the_extension(knowledge: Knowledge) -> None:
    card = build(
        knowledge,
        evidence=(
            Evidence("Condition/ok-1", "fine"),
            Evidence("Condition/<img src=x>", "hostile id"),
            Evidence("Condition/a\u202eb", "bidi id"),
        ),
    )

    assert card["extension"][EXTENSION_EVIDENCE] == ["Condition/ok-1"]


def _json_lines(app: Flask, *requests: tuple[str, dict[str, str]]) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("dn_cds")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        with app.test_client() as client:
            for path, headers in requests:
                client.get(path, headers=headers)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return stream.getvalue()


def test_log_lines_carry_no_raw_line_separators_or_bidi_characters(app: Flask) -> None:
    unsigned = ".".join(
        part.decode().rstrip("=")
        for part in (
            base64.urlsafe_b64encode(json.dumps({"alg": "ES384", "kid": "k"}).encode()),
            base64.urlsafe_b64encode(json.dumps({"iss": "https://x.example/\u2028\x85\u202e"}).encode()),
            b"c2ln",
        )
    )
    output = _json_lines(
        app,
        ("/cds-services", {"Authorization": f"Bearer {unsigned}"}),
        ("/cds-services/%E2%80%A8%C2%85%E2%80%AE", {}),
    )

    assert output
    for char in ("\u2028", "\x85", "\u202e"):
        assert char not in output, repr(char)
    lines = [json.loads(line) for line in output.splitlines()]
    assert any(line.get("iss") == "https://x.example/\u2028\x85\u202e" for line in lines)  # escaped, not lost


def test_the_report_escapes_what_a_terminal_would_obey() -> None:
    row = ReportRow("2026-11", "bleeding-disorder", shown=1, overridden=1)
    row.override_reasons = Counter({"urn:x|\x1b[2J\x1b]0;pwned\x07\u202e": 1})

    text = render_text([row])

    for char in ("\x1b", "\x07", "\u202e"):
        assert char not in text
    assert "\\x1b[2J" in text
