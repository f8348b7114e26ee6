"""Package boundaries (architecture.md section 1): ``cds_service`` -> ``cards`` -> ``fhir_mappings``.

Only ``cds_service`` (the edge) may import Flask, Werkzeug, requests, JWT or gunicorn. ``cards`` and
``fhir_mappings`` are pure, and ``fhir_mappings`` never depends on ``cards``. The check reads every module's
syntax tree, so an import inside a function or an ``if TYPE_CHECKING:`` block counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support.paths import ROOT

EDGE_ONLY = frozenset({"flask", "werkzeug", "requests", "jwt", "gunicorn", "cds_service"})
FORBIDDEN = {"fhir_mappings": EDGE_ONLY | {"cards"}, "cards": EDGE_ONLY}


def imported_modules(source: str, package: str) -> set[str]:
    """Every module a source file imports: ``import``, ``from ... import``, relative imports (resolved
    against ``package``) and ``importlib.import_module("x")`` / ``__import__("x")`` with a literal name."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                modules.add(".".join(filter(None, [package, node.module])))
            elif node.module:
                modules.add(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in {"import_module", "__import__"} and isinstance(node.args[0].value, str):
                modules.add(node.args[0].value)
    return modules


def forbidden_imports(source: str, package: str) -> list[str]:
    """The imported modules whose top-level package ``package`` must not depend on."""
    return sorted(m for m in imported_modules(source, package) if m.split(".")[0] in FORBIDDEN[package])


def _module_files() -> list[tuple[str, Path]]:
    return [(package, path) for package in FORBIDDEN for path in sorted((ROOT / package).rglob("*.py"))]


MODULE_FILES = _module_files()


def test_the_walk_covers_both_pure_packages() -> None:
    found = {path.relative_to(ROOT).as_posix() for _, path in MODULE_FILES}
    assert {"fhir_mappings/knowledge.py", "fhir_mappings/evaluation.py", "cards/builder.py"} <= found
    assert {"cards/wording.py", "cards/__init__.py", "fhir_mappings/__init__.py"} <= found


@pytest.mark.parametrize(
    ("package", "path"),
    [pytest.param(_value_0, path, id=path.relative_to(ROOT).as_posix()) for _value_0, path in MODULE_FILES],
)
def test_pure_package_imports_nothing_from_the_edge(package: str, path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert forbidden_imports(source, package) == [], f"{path.relative_to(ROOT)} crosses the boundary"


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        pytest.param("cards", "from flask import jsonify\n", ["flask"], id="flask"),
        pytest.param("cards", "import requests.adapters\n", ["requests.adapters"], id="requests-submodule"),
        pytest.param("cards", "import jwt as pyjwt\n", ["jwt"], id="jwt-aliased"),
        pytest.param(
            "cards", "from werkzeug.exceptions import BadRequest\n", ["werkzeug.exceptions"], id="werkzeug"
        ),
        pytest.param(
            "cards", "from cds_service.settings import Settings\n", ["cds_service.settings"], id="cds-service"
        ),
        pytest.param(
            "cards",
            "def f():\n    import gunicorn.app.base\n",
            ["gunicorn.app.base"],
            id="gunicorn-inside-function",
        ),
        pytest.param(
            "fhir_mappings",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cards.builder import CardContext",
            ["cards.builder"],
            id="cards-under-type-checking",
        ),
        pytest.param(
            "fhir_mappings",
            "import importlib\nimportlib.import_module('cards.wording')\n",
            ["cards.wording"],
            id="importlib-import-module",
        ),
        pytest.param(
            "fhir_mappings", "requests = __import__('requests')\n", ["requests"], id="dunder-import"
        ),
        pytest.param(
            "cards",
            "from fhir_mappings.findings import Finding\nimport json, uuid\n",
            [],
            id="cards-may-use-fhir-mappings",
        ),
        pytest.param(
            "fhir_mappings",
            "from . import codes\nfrom .valuesets import compile_value_set\n",
            [],
            id="relative-imports-stay-inside",
        ),
        pytest.param(
            "cards",
            "from fhir.resources.R4B.codesystem import CodeSystem\nimport flask_like\n",
            [],
            id="similar-names-are-not-flagged",
        ),
    ],
)
def test_the_checker_flags_edge_imports(package: str, source: str, expected: list[str]) -> None:
    assert forbidden_imports(source, package) == expected
