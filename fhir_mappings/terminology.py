"""Every value set of the rule base at once: which value sets place a (canonical system, code).

The rules ask "is this coding in value set X" of one value set at a time (``ValueSetMatcher``); some questions
are about all of them ("does any value set place this code", asked of every coding by the free-text rules).
:class:`Terminology` answers the latter with one memoised lookup per (system, code): the first time a code is
seen, each value set is asked once; afterwards it is one dict lookup, for every rule of every request.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fhir_mappings.codes import MAX_REMEMBERED_CHARS
from fhir_mappings.valuesets import ValueSetMatcher

_MEMO_LIMIT = 16384  # remembered (system, code) answers; forgotten all at once beyond it (hostile input)


@dataclass(frozen=True, slots=True)
class Terminology:
    """The compiled value sets, indexed by the codes asked of them (memoised, bounded)."""

    matchers: Mapping[str, ValueSetMatcher]
    _memo: dict[tuple[str, str], frozenset[str]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def value_sets_of(self, system: str, code: str) -> frozenset[str]:
        """The ids of the value sets that have the canonical ``system`` and ``code`` as a member."""
        if len(system) + len(code) > MAX_REMEMBERED_CHARS:
            return self._read(system, code)
        key = (system, code)
        memo = self._memo
        found = memo.get(key)
        if found is None:
            found = self._read(system, code)
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[key] = found
        return found

    def _read(self, system: str, code: str) -> frozenset[str]:
        return frozenset(
            value_set_id for value_set_id, matcher in self.matchers.items() if matcher.contains(system, code)
        )

    def is_known_code(self, system: str, code: str) -> bool:
        """True when some value set of the rule base places the canonical ``system`` and ``code``."""
        return bool(self.value_sets_of(system, code))


class ContentMemo:
    """Answers that depend only on a JSON value's content (and the knowledge that holds the memo), remembered
    across requests: charts repeat the same codings from patient to patient. Bounded: forgotten all at once
    beyond ``limit`` entries (hostile input cannot grow it). Answers must be immutable."""

    def __init__(self, limit: int = _MEMO_LIMIT) -> None:
        self._answers: dict[Hashable, Any] = {}
        self._limit = limit
        _CONTENT_MEMOS.add(self)

    def forget(self) -> None:
        """Forget every answer (they are computed again when next asked)."""
        self._answers.clear()

    def answer(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """The answer remembered for ``key``, else ``compute()`` (then remembered). The caller's key names
        its question, so one key always gets answers of one type."""
        answers = self._answers
        found = answers.get(key, _MISSING)
        if found is _MISSING:
            computed = compute()
            if len(answers) >= self._limit:
                answers.clear()
            answers[key] = computed
            return computed
        remembered: _T = found
        return remembered


_MISSING = object()
_T = TypeVar("_T")
_CONTENT_MEMOS: weakref.WeakSet[ContentMemo] = weakref.WeakSet()  # every memo of the process


def forget_remembered_answers() -> None:
    """Empty every :class:`ContentMemo` of this process. Answers do not change (they are computed again, the
    same); for mutation testing, which must see each test run the code a remembered answer skips."""
    for memo in list(_CONTENT_MEMOS):
        memo.forget()
