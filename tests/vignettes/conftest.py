"""Fixtures of the vignette tests: one app on the vignettes' run date, and its answers, asked once."""

from __future__ import annotations

import pytest
from flask import Flask
from support.tokens import issuer_trust
from support.vignette_answers import VignetteAnswers
from support.vignettes import RUN_DATE

from cds_service import Settings, create_app


@pytest.fixture(scope="session")
def vignette_app() -> Flask:
    return create_app(Settings(trusted_issuers=(issuer_trust(),)), today=lambda: RUN_DATE)


@pytest.fixture(scope="session")
def vignette_answers(vignette_app: Flask) -> VignetteAnswers:
    return VignetteAnswers(vignette_app)
