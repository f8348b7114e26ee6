"""Where things are, for every test and helper: one definition of each path, wherever a test file sits."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
"""The ``tests/`` directory."""
ROOT = TESTS.parent
"""The repository's root."""
CDS_HOOKS_EXAMPLES = TESTS / "fixtures" / "cds-hooks"
"""Public CDS Hooks example payloads, copied with their provenance."""
VIGNETTE_DIR = TESTS / "vignettes"
"""The clinical vignettes (``*.json``, format in tests/support/vignettes.py) and the tests that run them."""
FHIR_SERVER_DIR = TESTS / "fhir_server"
"""The Node FHIR test server (tests/support/local_fhir.py starts it)."""
CLOCK_SHIM_DIR = TESTS / "clock_shim"
"""The ``sitecustomize`` that puts child processes on the suite's clock (tests/support/clock.py)."""
