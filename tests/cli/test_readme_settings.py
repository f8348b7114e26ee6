"""Every setting the service reads is documented in the README's configuration table, and nothing more."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from support.paths import ROOT

from cds_service.settings import Settings

README = ROOT / "README.md"


class RecordingEnvironment(Mapping[str, str]):
    """An empty environment that remembers every name the settings ask for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        raise KeyError(name)

    def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(name)
        return default

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.asked.add(name)
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _documented() -> set[str]:
    section = README.read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(DN_CDS_[A-Z0-9_]+)`", section, flags=re.MULTILINE))


def test_every_setting_read_is_in_the_readme_configuration_table() -> None:
    environment = RecordingEnvironment()
    Settings.from_env(environment)
    read = {name for name in environment.asked if name.startswith("DN_CDS_")}

    assert len(read) > 15  # not vacuous: the settings really were asked for
    assert read - _documented() == set(), "read but not documented"
    assert _documented() - read == set(), "documented but never read"
