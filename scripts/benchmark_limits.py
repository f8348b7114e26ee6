"""Worst-case cost of hostile but authenticated bodies within the input limits (a measurement, not a test).

    .venv/bin/python scripts/benchmark_limits.py

Sends, in-process, bodies that sit just under (or just over) the default limits and prints the status and the
wall time of each call. SECURITY.md section 9 quotes these figures.
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cds_service import Settings, create_app
from cds_service.local_client import sign_service_request

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.hook_bodies import hand_written_order_select

PATH = "/cds-services/dry-needling-order-select"
ICD = {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.5"}


def bodies() -> list[tuple[str, dict[str, Any]]]:
    base = hand_written_order_select()
    cases: list[tuple[str, dict[str, Any]]] = [("a normal order-select", base)]
    body = copy.deepcopy(base)
    body["prefetch"]["conditions"]["entry"][0]["resource"]["code"]["coding"] = [ICD] * 10_000
    cases.append(("one concept with 10,000 codings", body))
    body = copy.deepcopy(base)
    condition = body["prefetch"]["conditions"]["entry"][0]
    body["prefetch"]["conditions"]["entry"] = []
    for _ in range(8):
        entry = copy.deepcopy(condition)
        entry["resource"]["code"]["coding"] = [ICD] * 9_000
        body["prefetch"]["conditions"]["entry"].append(entry)
    cases.append(("8 conditions x 9,000 codings", body))
    body = copy.deepcopy(base)
    body["prefetch"]["conditions"]["entry"] = [condition] * 9_000
    cases.append(("9,000 conditions", body))
    body = copy.deepcopy(base)
    body["context"]["draftOrders"]["entry"][0]["resource"]["bodySite"][0]["text"] = "R knee lumbar " * 18_000
    cases.append(("a 252,000-character body-site text", body))
    body = copy.deepcopy(base)
    body["prefetch"]["conditions"]["entry"][0]["resource"]["code"]["coding"] = [ICD] * 60_000
    cases.append(("60,000 codings (over the limit)", body))
    return cases


def main() -> int:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir))
        client = create_app(settings).test_client()
        for label, body in bodies():
            data = json.dumps(body)
            headers = {
                "Content-Type": "application/json",
                **sign_service_request(settings.base_url + PATH, data_dir=Path(data_dir)),
            }
            started = time.perf_counter()
            response = client.post(PATH, data=data, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            print(f"{label:40} {len(data) / 1e6:5.2f} MB  HTTP {response.status_code}  {elapsed:7.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
