"""The lock files pin what pyproject.toml asks for: exact versions with hashes, installed by scripts/test.sh
and the Dockerfile. Refresh them with ``bash scripts/lock.sh`` after changing a dependency."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from support.paths import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCKS = {
    "runtime": ROOT / "requirements" / "runtime.txt",
    "test": ROOT / "requirements" / "test.txt",
}


def _pins(lock: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every ``name==version`` entry of a pip-compile lock file."""
    text = lock.read_text(encoding="utf-8").replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        if match := re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)(.*)$", line):
            name, pinned, rest = match.groups()
            pins[canonicalize_name(name)] = (pinned, re.findall(r"--hash=sha256:([0-9a-f]{64})", rest))
    return pins


def _requirements(extra: str | None) -> list[Requirement]:
    project = PYPROJECT["project"]
    listed = list(project["dependencies"])
    if extra:
        listed += project["optional-dependencies"][extra]
    return [Requirement(text) for text in listed]


@pytest.mark.parametrize(("lock", "extra"), [("runtime", None), ("test", "test")])
def test_every_dependency_is_pinned_to_a_version_pyproject_allows(lock: str, extra: str | None) -> None:
    pins = _pins(LOCKS[lock])
    for requirement in _requirements(extra):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in {LOCKS[lock].name}: run bash scripts/lock.sh"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{LOCKS[lock].name} pins {name}=={version}, outside {requirement}: run bash scripts/lock.sh"
        )


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_pin_is_exact_and_hashed(lock: str) -> None:
    pins = _pins(LOCKS[lock])
    assert len(pins) > 10
    assert all(hashes for _, hashes in pins.values()), [n for n, (_, h) in pins.items() if not h]
    text = LOCKS[lock].read_text(encoding="utf-8")
    assert "--index-url" not in text and "--find-links" not in text, (
        "a lock must not name this machine's indexes"
    )


def test_the_runtime_lock_is_a_subset_of_the_test_lock() -> None:
    runtime, test = _pins(LOCKS["runtime"]), _pins(LOCKS["test"])
    differing = {
        name: (runtime[name][0], test.get(name, ("missing",))[0])
        for name in runtime
        if runtime[name][0] != test.get(name, ("",))[0]
    }
    assert differing == {}


def test_the_test_command_and_the_image_install_from_the_locks() -> None:
    test_sh = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements/test.txt" in test_sh
    assert "--require-hashes -r requirements/runtime.txt" in dockerfile
