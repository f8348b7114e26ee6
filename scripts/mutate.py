"""Mutation testing of the clinical rules: does a one-step change to a boundary make the fast tests fail?

Two kinds of mutant, both found automatically (new rule code and new settings are covered without editing this
script):

- **policy**: every numeric setting in ``fhir_mappings/data/policy.json`` moved by its smallest step in
  both directions (1 for whole numbers - days, years, x10^9/L, IU/L - and 0.1 for decimals - INR). The
  mutant is what the rules load (``fhir_mappings.knowledge._read_json``); a test that reads the shipped file
  itself to find its probes keeps the shipped value, so a rule that moved its boundary is caught.
- **code**: in every rule module of ``fhir_mappings/`` (all modules but the knowledge loaders in
  ``LOADERS``), inside functions: each comparison operator flipped to its off-by-one twin (``<`` <-> ``<=``,
  ``>`` <-> ``>=``) or its negation (``==`` <-> ``!=``); each side of a ``<``/``<=``/``>``/``>=`` comparison
  moved by one step both ways (a whole number by 1, a decimal by 0.1, a date by one day: the mutant the
  independent audit found, ``low >= end`` -> ``low >= end - 1``, is one of these); each ``+ 1``/``- 1``
  removed or turned round.

How it runs: one pytest session collects the fast tests of ``RULE_TESTS`` once. A forked child runs them
all once under coverage.py, one context per test (the baseline: every test must pass; it also records which
test executes which line of the rule modules; lines run while loading the knowledge count for every test).
Then, for each mutant, a forked child patches the function's code object in place (or the policy document
the rules load), runs only the tests that execute the mutated line (for a setting: a line that names it),
quickest first, and stops at the first failure. A test failure, an error or a time-out kills the mutant.

A mutant that survives fails the run unless ``scripts/mutation-equivalents.json`` lists its key with the
reason it cannot change behaviour. A shift mutant whose operand was never a number or date while the tests ran
(e.g. a comparison of strings) is reported as "not applicable", not as a survivor.

Usage::

    .venv/bin/python scripts/mutate.py             # everything; exit 1 on an unlisted survivor
    .venv/bin/python scripts/mutate.py --jobs 2 --only pregnancy.py --only policy.json
    .venv/bin/python scripts/mutate.py --list      # the mutants, without running them
"""

from __future__ import annotations

import argparse
import ast
import copy
import dataclasses
import json
import os
import re
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from types import CodeType, FunctionType, ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fhir_mappings"
POLICY_FILE = PACKAGE / "data" / "policy.json"
EQUIVALENTS_FILE = ROOT / "scripts" / "mutation-equivalents.json"
# Modules that read and validate the knowledge files (their checks are tested by the knowledge-file tests, and
# their comparisons are about file shape, not clinical boundaries).
LOADERS = frozenset({"__init__.py", "knowledge.py", "policy.py", "risk_knowledge.py"})
# The tests that ask the rules directly: rule tests, the card builder's and the vignettes' (tests/README.md).
# The HTTP tests call the same rules through Flask, many times slower per test.
RULE_TESTS = (
    "tests/rules",
    "tests/card/test_cards_*.py",
    "tests/vignettes/test_vignette*.py",
)
SHIFT_NAME = "__mutation_shift__"
FLIPS: dict[type[ast.cmpop], tuple[type[ast.cmpop], str]] = {
    ast.Lt: (ast.LtE, "<="),
    ast.LtE: (ast.Lt, "<"),
    ast.Gt: (ast.GtE, ">="),
    ast.GtE: (ast.Gt, ">"),
    ast.Eq: (ast.NotEq, "!="),
    ast.NotEq: (ast.Eq, "=="),
}
SYMBOLS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
RELATIONAL = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)

# Exit codes of a mutant's child process.
SURVIVED, KILLED, BROKEN, NOT_APPLICABLE = 0, 1, 2, 3


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One mutant. ``key`` is stable across unrelated edits (no line number): it names the file, the function,
    the source text of the mutated expression and the change; ``where`` is for people (file:line:column)."""

    kind: str  # "code" or "policy"
    key: str
    where: str
    change: str
    # code mutants
    path: str = ""
    function: str = ""
    node_index: int = -1  # index of the node in ast.walk order of the module
    operation: str = ""  # "flip:<i>", "shift-left:+1", "shift-right:-1", "offset-drop", "offset-turn"
    lines: tuple[int, ...] = ()
    # policy mutants
    setting: str = ""
    value: float = 0


# --- Finding mutants ---------------------------------------------------------------------------------------


def rule_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.glob("*.py") if p.name not in LOADERS)


def _enclosing_functions(tree: ast.Module) -> dict[ast.AST, str]:
    """For every node inside a function: the qualified name of its outermost enclosing function (``f`` or
    ``Class.method``), whose code object the mutant replaces."""
    owner: dict[ast.AST, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                for inner in ast.walk(child):
                    owner[inner] = name
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return owner


def _segment(source: str, node: ast.AST) -> str:
    return " ".join((ast.get_source_segment(source, node) or ast.unparse(node)).split())


def code_mutants(path: Path) -> list[Mutant]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    owner = _enclosing_functions(tree)
    relative = path.relative_to(ROOT).as_posix()
    found: list[Mutant] = []
    seen: dict[str, int] = {}

    def add(node: ast.expr, index: int, operation: str, change: str) -> None:
        text = _segment(source, node)
        base = f"{relative}::{owner[node]}::{text}::{change}"
        seen[base] = seen.get(base, 0) + 1
        key = base if seen[base] == 1 else f"{base}#{seen[base]}"
        lines = tuple(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        where = f"{relative}:{node.lineno}:{node.col_offset + 1}"
        found.append(Mutant("code", key, where, change, relative, owner[node], index, operation, lines))

    for index, node in enumerate(ast.walk(tree)):
        if node not in owner:
            continue  # module-level code runs once at import: not mutated
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for i, op in enumerate(node.ops):
                if type(op) not in FLIPS:
                    continue
                symbol = SYMBOLS[type(op)]
                add(node, index, f"flip:{i}", f"`{symbol}` -> `{FLIPS[type(op)][1]}` (operator {i + 1})")
                if not isinstance(op, RELATIONAL):
                    continue
                # Shift the operand that belongs to this comparison only.
                if i == len(node.ops) - 1:
                    side, target = "right", operands[i + 1]
                elif i == 0:
                    side, target = "left", operands[0]
                else:
                    continue
                for step in ("+1", "-1"):
                    add(
                        node,
                        index,
                        f"shift-{side}:{i}:{step}",
                        f"`{_segment(source, target)}` {step} step in `{symbol}` (operator {i + 1})",
                    )
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Add | ast.Sub)
            and isinstance(node.right, ast.Constant)
            and node.right.value == 1
            and type(node.right.value) is int
        ):
            sign = "+" if isinstance(node.op, ast.Add) else "-"
            add(node, index, "offset-drop", f"`{sign} 1` removed")
            add(node, index, "offset-turn", f"`{sign} 1` -> `{'-' if sign == '+' else '+'} 1`")
    return found


def policy_mutants() -> list[Mutant]:
    settings = json.loads(POLICY_FILE.read_text(encoding="utf-8"))["settings"]
    found: list[Mutant] = []
    for name, entry in settings.items():
        value = entry.get("value") if isinstance(entry, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        step: float = 1 if isinstance(value, int) else 0.1
        for direction in (1, -1):
            moved: float = round(value + direction * step, 6)
            change = f"{value} -> {moved} {entry.get('unit', '')}".strip()
            key = f"policy.json::{name}::{'+' if direction > 0 else '-'}{step}"
            where = f"{POLICY_FILE.relative_to(ROOT).as_posix()}:settings.{name}"
            found.append(Mutant("policy", key, where, change, setting=name, value=moved))
    return found


def all_mutants(only: list[str]) -> list[Mutant]:
    mutants = policy_mutants()
    for path in rule_modules():
        mutants += code_mutants(path)
    if only:
        mutants = [m for m in mutants if any(o in m.key for o in only)]
    return mutants


# --- Applying a mutant (in the child process) --------------------------------------------------------------


class _Shift:
    """The operand shift: a whole number by 1, a decimal by 0.1, a date or datetime by one day. It records
    whether it ever moved something, so a comparison of strings is reported as not applicable."""

    applied = False
    called = False

    def __call__(self, value: Any, step: int) -> Any:
        _Shift.called = True
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            _Shift.applied = True
            return value + step
        if isinstance(value, float):
            _Shift.applied = True
            return round(value + step / 10, 10)
        if isinstance(value, date | datetime | timedelta):
            _Shift.applied = True
            return value + timedelta(days=step)
        return value


class _Mutator(ast.NodeTransformer):
    def __init__(self, target: ast.AST, operation: str) -> None:
        self.target, self.operation = target, operation

    def visit(self, node: ast.AST) -> Any:
        if node is not self.target:
            return self.generic_visit(node)
        kind, _, rest = self.operation.partition(":")
        if kind == "flip":
            assert isinstance(node, ast.Compare)
            i = int(rest)
            node.ops[i] = FLIPS[type(node.ops[i])][0]()
        elif kind.startswith("shift-"):
            assert isinstance(node, ast.Compare)
            position, _, step = rest.partition(":")
            call = lambda operand: ast.Call(  # noqa: E731
                ast.Name(SHIFT_NAME, ast.Load()), [operand, ast.Constant(int(step))], []
            )
            if kind == "shift-left":
                node.left = call(node.left)
            else:
                node.comparators[int(position)] = call(node.comparators[int(position)])
        elif kind == "offset-drop":
            assert isinstance(node, ast.BinOp)
            return node.left
        elif kind == "offset-turn":
            assert isinstance(node, ast.BinOp)
            node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
        return node


def _code_objects(code: CodeType) -> Iterator[CodeType]:
    yield code
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            yield from _code_objects(constant)


def _function_object(module: ModuleType, qualname: str) -> FunctionType:
    holder: Any = module
    for part in qualname.split("."):
        holder = holder.__dict__[part] if isinstance(holder, type) else getattr(holder, part)
    if isinstance(holder, staticmethod | classmethod):
        holder = holder.__func__
    if isinstance(holder, property):
        holder = holder.fget
    while not isinstance(holder, FunctionType) or holder.__code__.co_qualname != qualname:
        holder = holder.__wrapped__  # a decorated function: the original sits behind __wrapped__
    return holder


def apply_code_mutant(mutant: Mutant) -> None:
    import importlib

    path = ROOT / mutant.path
    tree = ast.parse(path.read_text(encoding="utf-8"))
    target = next(node for i, node in enumerate(ast.walk(tree)) if i == mutant.node_index)
    tree = ast.fix_missing_locations(_Mutator(target, mutant.operation).visit(tree))
    compiled = compile(tree, str(path), "exec", dont_inherit=True)
    module = importlib.import_module(f"{PACKAGE.name}.{path.stem}")
    code = next(c for c in _code_objects(compiled) if c.co_qualname == mutant.function)
    function = _function_object(module, mutant.function)
    function.__code__ = code
    module.__dict__[SHIFT_NAME] = _Shift()


def apply_policy_mutant(mutant: Mutant) -> None:
    from fhir_mappings import knowledge

    original: Callable[[Path], Any] = knowledge._read_json

    def read_json(path: Path) -> Any:
        document = original(path)
        if Path(path).resolve() == POLICY_FILE.resolve():
            document = copy.deepcopy(document)
            document["settings"][mutant.setting]["value"] = mutant.value
        return document

    knowledge._read_json = read_json  # type: ignore[attr-defined]
    _Shift.applied = True


# --- Running -----------------------------------------------------------------------------------------------


def _run_items(
    items: list[Any], stop_on_failure: bool, on_item: Callable[[int], None] | None = None
) -> list[str]:
    """Run ``items`` in order (setup, call, teardown each); the failures (test id, last line of the error)."""
    from _pytest.runner import runtestprotocol

    from fhir_mappings.terminology import forget_remembered_answers

    failures: list[str] = []
    for i, item in enumerate(items):
        # Answers remembered across calls by content (Knowledge.concept_memo) would let a later test skip the
        # code an earlier one ran: each test starts without them, so coverage and mutants see what it runs.
        forget_remembered_answers()
        if on_item:
            on_item(i)
        next_item = items[i + 1] if i + 1 < len(items) else None
        reports = runtestprotocol(item, nextitem=next_item, log=False)
        failed = [report for report in reports if report.failed]
        if failed:
            failures.append(f"{item.nodeid}: {str(failed[0].longrepr).strip().splitlines()[-1]}")
            if stop_on_failure:
                return failures
    return failures


def _fork(body: Callable[[], int], timeout: int, errors: Path) -> int:
    """Run ``body`` in a child process (output discarded, killed by SIGALRM after ``timeout`` seconds); an
    exception that escapes it (applying the mutant failed) is written to ``errors``."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = BROKEN
        try:
            signal.alarm(timeout)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            code = body()
        except BaseException:
            errors.write_text(traceback.format_exc(), encoding="utf-8")
        finally:
            os._exit(code)
    return pid


def _status(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        return "killed (time-out)" if os.WTERMSIG(wait_status) == signal.SIGALRM else "killed (crash)"
    code = os.WEXITSTATUS(wait_status)
    return {SURVIVED: "survived", KILLED: "killed", NOT_APPLICABLE: "not applicable"}.get(
        code, "broken (the mutant could not be applied)"
    )


class MutationSession:
    """A pytest plugin: collects once, then takes over the run loop."""

    def __init__(
        self, mutants: list[Mutant], jobs: int, equivalents: dict[str, str], recheck: bool = False
    ) -> None:
        self.mutants, self.jobs, self.equivalents, self.recheck = mutants, jobs, equivalents, recheck
        self.exit_code = 0
        self.results: dict[str, str] = {}

    def pytest_runtestloop(self, session: Any) -> bool:
        items: list[Any] = list(session.items)
        started = time.monotonic()
        baseline = self._baseline(items)
        if baseline is None:
            self.exit_code = 2
            return True
        coverage, durations = baseline
        baseline_seconds = time.monotonic() - started
        print(f"baseline: {len(items)} fast tests pass ({baseline_seconds:.1f} s with coverage)", flush=True)
        position = {id(item): index for index, item in enumerate(items)}
        running: dict[int, tuple[Mutant, Path]] = {}
        queue = list(self.mutants)
        done = 0
        scratch = Path(tempfile.mkdtemp(prefix="mutate-"))
        while queue or running:
            while queue and len(running) < self.jobs:
                mutant = queue.pop(0)
                if mutant.key in self.equivalents and not self.recheck:
                    self._record(mutant, "survived (listed as equivalent; not run)")
                    done += 1
                    continue
                selected = self._tests_for(mutant, items, coverage, durations)
                if not selected:
                    self._record(mutant, "survived (no test executes it)")
                    done += 1
                    continue
                # An endless loop is a kill: far longer than the selected tests took in the baseline.
                timeout = int(60 + 10 * sum(durations[position[id(item)]] for item in selected))
                errors = scratch / f"{len(queue)}.txt"
                running[_fork(self._child(mutant, selected), timeout, errors)] = (mutant, errors)
            if running:
                pid, wait_status = os.wait()
                mutant, errors = running.pop(pid)
                status = _status(wait_status)
                if errors.exists():
                    status += ": " + errors.read_text(encoding="utf-8").strip().splitlines()[-1]
                self._record(mutant, status)
                done += 1
                if done % 25 == 0:
                    print(
                        f"  {done}/{len(self.mutants)} mutants ({time.monotonic() - started:.0f} s)",
                        flush=True,
                    )
        self._report(time.monotonic() - started)
        return True

    def _baseline(self, items: list[Any]) -> tuple[dict[tuple[str, int], list[int]], list[float]] | None:
        """Run every test once, recording which lines of the rule modules each executes (coverage.py,
        one dynamic context per test) and how long each takes. ``None`` when a test fails."""
        files = [str(p) for p in rule_modules()]
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "baseline.json"

            def body() -> int:
                import coverage

                cov = coverage.Coverage(data_file=None, include=files, config_file=False)
                durations: list[float] = []
                started = [time.monotonic()]

                def on_item(index: int) -> None:
                    if index:
                        durations.append(time.monotonic() - started[0])
                    cov.switch_context(str(index))
                    started[0] = time.monotonic()

                cov.start()
                # What loading the knowledge files runs (value-set compilation, word patterns) shapes every
                # later answer, but only the first test's fixture runs it: such lines get every test.
                cov.switch_context("load")
                from fhir_mappings import load_knowledge

                load_knowledge()
                failures = _run_items(items, stop_on_failure=False, on_item=on_item)
                cov.stop()
                durations.append(time.monotonic() - started[0])
                data = cov.get_data()
                lines = {
                    name: {str(n): sorted(c) for n, c in data.contexts_by_lineno(name).items()}
                    for name in data.measured_files()
                }
                document = {"lines": lines, "durations": durations, "failures": failures}
                out.write_text(json.dumps(document), encoding="utf-8")
                return SURVIVED if not failures else KILLED

            pid = _fork(body, 3600, Path(scratch) / "baseline-error.txt")
            _, wait_status = os.waitpid(pid, 0)
            if _status(wait_status) != "survived":
                failures = json.loads(out.read_text(encoding="utf-8"))["failures"] if out.exists() else []
                print("baseline: the fast tests do not all pass without mutants:", file=sys.stderr)
                for failure in failures or [_status(wait_status)]:
                    print(f"  {failure}", file=sys.stderr)
                return None
            document = json.loads(out.read_text(encoding="utf-8"))
        coverage_map: dict[tuple[str, int], list[int]] = {}
        every_test = list(range(len(items)))
        for filename, by_line in document["lines"].items():
            for line, contexts in by_line.items():
                tests = every_test if "load" in contexts else sorted(int(c) for c in contexts if c.isdigit())
                coverage_map[(filename, int(line))] = tests
        return coverage_map, document["durations"]

    @staticmethod
    def _tests_for(
        mutant: Mutant, items: list[Any], coverage: dict[tuple[str, int], list[int]], durations: list[float]
    ) -> list[Any]:
        """The tests that execute the mutated line (for a setting: a line of a rule module that names it),
        quickest first so that a killing test comes soon; every test when no line names a setting."""
        if mutant.kind == "policy":
            lines = _lines_naming(mutant.setting)
            if not lines:
                return items
        else:
            lines = [(str(ROOT / mutant.path), line) for line in mutant.lines]
        indexes = {i for line in lines for i in coverage.get(line, [])}
        return [items[i] for i in sorted(indexes, key=lambda i: (durations[i], i))]

    @staticmethod
    def _child(mutant: Mutant, selected: list[Any]) -> Callable[[], int]:
        def body() -> int:
            (apply_policy_mutant if mutant.kind == "policy" else apply_code_mutant)(mutant)

            def check(index: int) -> None:
                # A shift that the first test reached without moving anything compares strings (an ICD-10-CM
                # block, a code): every other test would pass the same value type, so stop here.
                if index and _Shift.called and not _Shift.applied:
                    os._exit(NOT_APPLICABLE)

            shift = mutant.operation.startswith("shift")
            if _run_items(selected, stop_on_failure=True, on_item=check if shift else None):
                return KILLED
            return SURVIVED if _Shift.applied or not mutant.operation.startswith("shift") else NOT_APPLICABLE

        return body

    def _record(self, mutant: Mutant, status: str) -> None:
        self.results[mutant.key] = status
        if status.startswith(("survived", "broken")) and mutant.key not in self.equivalents:
            print(f"  {status.split(' (')[0]}: {mutant.where} {mutant.change}", flush=True)

    def _report(self, seconds: float) -> None:
        counts: dict[str, int] = {}
        for status in self.results.values():
            counts[status.split(" (")[0]] = counts.get(status.split(" (")[0], 0) + 1
        print(
            f"\n{len(self.mutants)} mutants in {seconds:.0f} s: "
            + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        )
        unexplained: list[Mutant] = []
        for mutant in self.mutants:
            status = self.results[mutant.key]
            if status.startswith("broken"):
                unexplained.append(mutant)
                continue
            if not status.startswith("survived"):
                continue
            if mutant.key in self.equivalents:
                print(f"  equivalent  {mutant.where}  {mutant.change}: {self.equivalents[mutant.key]}")
            else:
                unexplained.append(mutant)
        # With --only, listed mutants outside the selection were not run: only note the ones that no longer
        # exist anywhere, or that ran and were killed.
        existing = {m.key for m in all_mutants([])}
        stale = sorted(
            k
            for k in self.equivalents
            if k not in existing or (k in self.results and not self.results[k].startswith("survived"))
        )
        if not self.recheck:
            print(
                "  (equivalents not re-run: --recheck-equivalents runs them and notes any a test now kills)"
            )
        for key in stale:
            status = self.results.get(key, "no such mutant any more") if key in existing else "no such mutant"
            print(f"  note: {EQUIVALENTS_FILE.name} lists {key!r}, which is {status}: remove it")
        for mutant in unexplained:
            function = f" in {mutant.function}()" if mutant.function else ""
            label = "BROKEN  " if self.results[mutant.key].startswith("broken") else "SURVIVED"
            print(f"{label}  {mutant.where}{function}: {mutant.change}  [{self.results[mutant.key]}]")
            print(f"          key: {mutant.key}")
        if unexplained:
            print(
                f"\n{len(unexplained)} surviving (or broken) mutant(s): add a test that tells the mutant from"
                " the rule, or list the key with the reason it cannot change behaviour in"
                f" {EQUIVALENTS_FILE.relative_to(ROOT)}"
            )
            self.exit_code = 1


def _lines_naming(setting: str) -> list[tuple[str, int]]:
    """Every line of the rule modules that names ``setting`` (``policy.lab_max_age_days``)."""
    pattern = re.compile(rf"\b{re.escape(setting)}\b")
    return [
        (str(path), number)
        for path in rule_modules()
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if pattern.search(text)
    ]


def load_equivalents() -> dict[str, str]:
    if not EQUIVALENTS_FILE.exists():
        return {}
    document = json.loads(EQUIVALENTS_FILE.read_text(encoding="utf-8"))
    equivalents: dict[str, str] = {}
    for entry in document["equivalent"]:
        if not str(entry.get("reason", "")).strip():
            raise SystemExit(f"{EQUIVALENTS_FILE}: {entry.get('mutant')!r} gives no reason")
        equivalents[entry["mutant"]] = entry["reason"]
    return equivalents


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at the same time (default 1)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="only mutants whose key contains this: a file, 'policy.json', a setting or a function name",
    )
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument(
        "--recheck-equivalents",
        action="store_true",
        help="also run the mutants listed as equivalent (by default they are not run: each runs every test)",
    )
    parser.add_argument("pytest_args", nargs="*", help=f"test paths (default: {' '.join(RULE_TESTS)})")
    args = parser.parse_args()
    mutants = all_mutants(args.only)
    if args.list:
        for mutant in mutants:
            print(f"{mutant.where}\t{mutant.change}\t{mutant.key}")
        print(f"{len(mutants)} mutants")
        return 0
    os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")
    # Every vignette test asks for its own answer: with answers shared per session, coverage would credit the
    # rule lines to the first test that asked, and a mutant would be tried only against that test.
    os.environ["TEST_SHARE_VIGNETTE_ANSWERS"] = "0"
    import pytest

    plugin = MutationSession(mutants, max(1, args.jobs), load_equivalents(), args.recheck_equivalents)
    paths = args.pytest_args or sorted({str(p) for pattern in RULE_TESTS for p in ROOT.glob(pattern)})
    # --fast: the pure tests only (tests/support/markers.py)
    pytest_args = [*paths, "-q", "-p", "no:cacheprovider", "--fast"]
    collected = pytest.main(pytest_args, plugins=[plugin])
    if collected not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return int(collected)
    return plugin.exit_code


if __name__ == "__main__":
    sys.exit(main())
