"""Each vignette's answer per hook, asked once per session through the conformance-checking client.

Several vignette tests check different things about the same call (its finding codes, its critical cards,
what its cards say, its indication keys); the answer is asked the first time a test needs it, and every test
gets its own copy, so no test sees another's changes. ``TEST_SHARE_VIGNETTE_ANSWERS=0`` makes every test ask
afresh: scripts/mutate.py sets it, as it runs for each mutant only the tests that executed the mutated line.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from flask import Flask

from cds_service.demo import build_hook_request
from support.cds_client import CdsClient
from support.services import SERVICES
from support.vignettes import Vignette


class VignetteAnswers:
    """The answers of one app (the vignettes' run date, the test issuer trusted) to the vignettes' calls."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._answers: dict[tuple[str, str], Any] = {}

    def cards(self, vignette: Vignette, hook: str) -> list[dict[str, Any]]:
        """The cards of ``vignette``'s call of ``hook``'s service (a 200 checked for conformance)."""
        key = (vignette.patient.slug, hook)
        if key not in self._answers or os.environ.get("TEST_SHARE_VIGNETTE_ANSWERS") == "0":
            service = SERVICES[hook]
            with self._app.test_client() as client:
                response = CdsClient(client).call(service.id, build_hook_request(vignette.patient, service))
            assert response.status_code == 200, response.get_data(as_text=True)
            self._answers[key] = response.get_json()
        cards: list[dict[str, Any]] = copy.deepcopy(self._answers[key]["cards"])
        return cards
