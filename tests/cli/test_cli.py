"""The ``dn-cds`` command as a new user meets it: help, version, one clear line on every failure, and the
README's commands accepted as written."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import socket
import sys
from pathlib import Path

import pytest
from support.paths import ROOT
from support.servers import ANNOUNCE, free_port, started

from cds_service.catalog import load_catalog
from cds_service.cli import build_parser, main
from cds_service.demo import load_demo_patients

README = (ROOT / "README.md").read_text(encoding="utf-8")

NUMBER_WORDS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_version_names_the_installed_release(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert re.fullmatch(r"dn-cds \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


@pytest.mark.parametrize("command", sorted(_subparsers(build_parser())))
def test_every_option_of_every_command_has_help(command: str) -> None:
    subparser = _subparsers(build_parser())[command]
    undocumented = [
        action.option_strings or action.dest
        for action in subparser._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert undocumented == []


@pytest.mark.parametrize("command", [None, *sorted(_subparsers(build_parser()))])
def test_help_text_is_plain_text(command: str | None) -> None:
    """No reStructuredText markup (``literal``) in what --help prints."""
    parser = build_parser() if command is None else _subparsers(build_parser())[command]
    text = parser.format_help()
    assert "``" not in text
    assert ":func:" not in text


def test_demo_against_a_port_where_nothing_listens_ends_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DN_CDS_DATA_DIR", str(tmp_path))
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["demo", "--url", url]) == 1
    error_lines = capsys.readouterr().err.strip().splitlines()
    assert len(error_lines) == 1
    assert error_lines[0].startswith(f"dn-cds demo: cannot reach {url}/cds-services/")
    assert "Traceback" not in error_lines[0]


def test_serve_on_a_taken_port_fails_at_once_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DN_CDS_DATA_DIR", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # Returns instead of exec'ing gunicorn: the check runs before the server starts.
        assert main(["serve", "--host", "127.0.0.1", "--port", str(port)]) == 1
    error = capsys.readouterr().err.strip()
    assert (
        error
        == f"dn-cds serve: cannot listen on 127.0.0.1:{port}: the port is in use (set DN_CDS_PORT or --port)"
    )


@pytest.mark.gunicorn
def test_serve_announces_only_after_it_listens(tmp_path: Path) -> None:
    """The "serving" line comes from gunicorn's when_ready hook, after the bind, and names the URL."""
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "DN_CDS_DATA_DIR": str(tmp_path),
        "DN_CDS_PORT": str(port),
        "DN_CDS_WORKERS": "1",
        "DN_CDS_LOG_LEVEL": "WARNING",
        **{k: v for k, v in os.environ.items() if k in {"PYTHONPATH", "TEST_CLOCK_OFFSET_SECONDS"}},
    }
    url = f"http://127.0.0.1:{port}"
    # JSON log lines (e.g. a key created) may come first
    with started([sys.executable, "-m", "cds_service", "serve"], ANNOUNCE, env=env) as server:
        assert (
            server.ready_line.strip() == f"dn-cds: serving {url}/cds-services  (try: dn-cds demo --url {url})"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass  # listening when announced


# --- the README matches the code ----------------------------------------------------------------------------


def _readme_shell_lines() -> list[str]:
    """Every command line in the README's ```bash blocks, continuation lines joined, comments dropped."""
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.DOTALL):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def _dn_cds_invocations() -> list[list[str]]:
    """The arguments of every ``dn-cds`` call in those lines (``[--opt X]`` usage brackets dropped)."""
    calls = []
    for line in _readme_shell_lines():
        for part in re.split(r"&&|;|\|", line):
            words = shlex.split(re.sub(r"\[[^\]]*\]", "", part))
            for index, word in enumerate(words):
                if word.endswith("/dn-cds") or word == "dn-cds":
                    calls.append(words[index + 1 :])
    return calls


def test_the_readme_has_commands_to_check() -> None:
    assert len(_dn_cds_invocations()) >= 8


@pytest.mark.parametrize("arguments", _dn_cds_invocations(), ids=lambda args: " ".join(args)[:60])
def test_every_dn_cds_command_in_the_readme_parses(arguments: list[str]) -> None:
    try:
        build_parser().parse_args(arguments)
    except SystemExit as stopped:  # argparse refuses with exit 2
        pytest.fail(f"the README's `dn-cds {' '.join(arguments)}` is not accepted (exit {stopped.code})")


def test_the_readme_counts_the_demo_patients_right() -> None:
    from support.clock import TODAY

    count = len(load_demo_patients(TODAY))
    mentioned = [
        NUMBER_WORDS[w]
        for w in re.findall(r"\b(\w+) (?:synthetic )?demo patients", README)
        if w in NUMBER_WORDS
    ]
    assert mentioned, "the README no longer says how many demo patients there are"
    assert set(mentioned) == {count}


def test_the_readme_quotes_the_medication_prefetch_templates_discovery_sends() -> None:
    templates = {
        template
        for service in load_catalog().services
        for template in service.prefetch.values()
        if template.startswith("Medication")
    }
    quoted = set(re.findall(r"`(Medication\w+\?[^`]*)`", README))
    assert quoted, "the README no longer quotes the medication prefetch templates"
    assert quoted <= templates, sorted(quoted - templates)
    assert {t.partition("?")[0] for t in quoted} == {t.partition("?")[0] for t in templates}


def test_the_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test.sh" in _readme_shell_lines()
    assert re.search(r"^\s*(run_stage \"[^\"]+\" )?bash scripts/test.sh", ci, flags=re.MULTILINE)


def test_services_json_is_what_the_readme_calls_discovery() -> None:
    # A cheap guard that the catalog the README's tests compare with is the shipped file.
    shipped = json.loads((ROOT / "cds_service" / "data" / "services.json").read_text(encoding="utf-8"))
    assert {s["id"] for s in shipped["services"]} == {s.id for s in load_catalog().services}
