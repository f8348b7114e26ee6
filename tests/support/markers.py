"""Pytest plugin (loaded by conftest.py): the markers that separate tests needing servers from pure ones, and
the Hypothesis profiles.

Markers (registered in pyproject.toml) are applied here from what a test uses, so a new test gets the right
marker without remembering it:

- ``node``: it uses the ``fhir_server`` fixture, or its module starts a FHIR server (``running_fhir_server``);
- ``postgresql``: it uses the ``postgresql_server`` fixture, or runs with the ``postgresql`` store parameter;
- ``gunicorn``: it or one of its fixtures calls ``support.servers.serving`` or ``dn_cds_serve`` (or its
  module uses ``serving``): it starts the service as a process; tests that spawn it another way carry the
  marker themselves.

The pure tests alone: ``pytest --fast`` (the option adds the marker expression ``FAST`` below, and'ed with any
``-m`` given).

Hypothesis: profile ``ci`` (derandomised: the same examples on every run, no example database) is loaded when
``CI`` is set; ``dev`` otherwise (random examples). Both print the reproduction blob of a failure
(``@reproduce_failure``). ``HYPOTHESIS_PROFILE`` names another profile explicitly.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

FAST = "not slow and not postgresql and not node and not gunicorn and not browser"
NODE_FIXTURES = frozenset({"fhir_server"})
POSTGRESQL_FIXTURES = frozenset({"postgresql_server"})
POSTGRESQL_PARAMETERS = frozenset({"store", "store_settings"})
SERVERS = "support.servers"
SERVICE_STARTERS = frozenset({"serving", "dn_cds_serve"})

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    print_blob=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", database=None, print_blob=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fast",
        action="store_true",
        help=f"run the pure tests only: -m {FAST!r} (and'ed with any -m given)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("fast"):
        given = config.option.markexpr
        config.option.markexpr = f"({FAST}) and ({given})" if given else FAST


def markers_for(item: pytest.Item) -> set[str]:
    """The markers ``item`` needs because of the fixtures and parameters it uses."""
    names = set(getattr(item, "fixturenames", ()))
    module = getattr(item, "module", None)
    found: set[str] = set()
    if names & NODE_FIXTURES or (module is not None and hasattr(module, "running_fhir_server")):
        found.add("node")
    callspec = getattr(item, "callspec", None)
    parameters = callspec.params if callspec is not None else {}
    if names & POSTGRESQL_FIXTURES or any(
        parameters.get(name) == "postgresql" for name in POSTGRESQL_PARAMETERS
    ):
        found.add("postgresql")
    if module is not None and getattr(getattr(module, "serving", None), "__module__", None) == SERVERS:
        found.add("gunicorn")
    if any(_names_a_server_starter(function) for function in _test_and_fixture_functions(item)):
        found.add("gunicorn")
    return found


def _test_and_fixture_functions(item: pytest.Item) -> list[object]:
    """The test function and the functions of the fixtures it uses."""
    functions: list[object] = [getattr(item, "function", None)]
    info = getattr(item, "_fixtureinfo", None)
    for definitions in getattr(info, "name2fixturedefs", {}).values():
        functions.extend(definition.func for definition in definitions)
    return functions


def _names_a_server_starter(function: object) -> bool:
    """Whether ``function`` calls (names) one of the helpers that start ``dn-cds serve``."""
    code = getattr(function, "__code__", None)
    return code is not None and not SERVICE_STARTERS.isdisjoint(code.co_names)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        present = {mark.name for mark in item.iter_markers()}
        for name in sorted(markers_for(item) - present):
            item.add_marker(name)
