"""``dn-cds purge`` and ``dn-cds report`` against a store with audited cards and feedback (both databases)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cds_service.cli import main
from cds_service.feedback import FeedbackEntry
from cds_service.settings import Settings
from cds_service.store import AuditedCard, HookCallRecord, Store, open_store

SERVICE = "dry-needling-order-select"
REASONS = "urn:dn-cds:CodeSystem/override-reason"


@pytest.fixture
def filled(store_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A store with one recent call (two cards, one overridden with a coded reason) and one old call; the
    DN_CDS_* environment names it, as the commands read it."""
    monkeypatch.setenv("DN_CDS_DATA_DIR", str(store_settings.data_dir))
    monkeypatch.setenv("DN_CDS_PSEUDONYM_KEY", store_settings.pseudonym_key)
    if store_settings.database_url:
        monkeypatch.setenv("DN_CDS_DATABASE_URL", store_settings.database_url)
    store = open_store(store_settings)
    now = datetime.now(UTC)
    cards = [
        AuditedCard("new-1", "bleeding-disorder", "critical"),
        AuditedCard("new-2", "risk-disclosure", "info"),
    ]
    store.audit.record(HookCallRecord(now, SERVICE, 200, 3.0, cards=cards))
    store.audit.record(
        HookCallRecord(now - timedelta(days=3000), SERVICE, 200, 3.0, cards=[AuditedCard("old", "x", "info")])
    )
    stamp = now.isoformat().replace("+00:00", "Z")
    store.feedback.save(
        SERVICE,
        [
            FeedbackEntry("new-1", "overridden", (), (REASONS, "cleared-by-physician"), None, stamp),
            FeedbackEntry("old", "accepted", ("s",), None, None, stamp),
        ],
        now,
    )
    yield store
    store.close()


def test_report_prints_and_exports_counts_per_finding(
    filled: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_path, json_path = tmp_path / "report.csv", tmp_path / "report.json"
    since = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()

    assert main(["report", "--since", since, "--csv", str(csv_path), "--json", str(json_path)]) == 0

    out = capsys.readouterr().out
    assert "bleeding-disorder" in out
    assert "cleared-by-physician (Cleared by the treating physician or specialist): 1" in out
    rows = list(csv.DictReader(csv_path.read_text(encoding="utf-8").splitlines()))
    by_code = {row["finding_code"]: row for row in rows}
    assert set(by_code) == {"bleeding-disorder", "risk-disclosure"}  # the old call is before --since
    assert (by_code["bleeding-disorder"]["shown"], by_code["bleeding-disorder"]["overridden"]) == ("1", "1")
    document = json.loads(json_path.read_text(encoding="utf-8"))
    assert document["report"]["period"] == "month"
    [bleeding] = [row for row in document["rows"] if row["findingCode"] == "bleeding-disorder"]
    assert bleeding["overrideReasons"] == [
        {"reason": "cleared-by-physician (Cleared by the treating physician or specialist)", "count": 1}
    ]


def test_purge_keeps_what_is_within_the_retention(filled: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["purge", "--dry-run"]) == 0
    assert "would delete 1 hook calls, 1 cards and 1 feedback entries" in capsys.readouterr().out

    assert main(["purge"]) == 0
    assert "deleted 1 hook calls, 1 cards and 1 feedback entries" in capsys.readouterr().out

    assert main(["purge", "--days", "1"]) == 0
    assert "deleted 0 hook calls" in capsys.readouterr().out
