"""The tolerant FHIR JSON accessors shared by the rules."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings.fhir_json import concept_texts


@pytest.mark.parametrize(
    ("concept", "expected"),
    [
        (
            {"text": " Warfarin 5 mg ", "coding": [{"display": "Coumadin"}, {"system": "s", "code": "1"}]},
            ["Warfarin 5 mg", "Coumadin"],
        ),
        ({"coding": {"display": "R knee"}}, ["R knee"]),  # a single coding object instead of an array
        ({"text": "  ", "coding": [{"display": 7}, "x", None, {"display": "Knee"}]}, ["Knee"]),
        ("not a concept", []),
        (None, []),
    ],
)
def test_concept_texts_reads_the_text_then_every_display(concept: Any, expected: list[str]) -> None:
    assert concept_texts(concept) == expected


def test_concept_texts_caps_the_codings_read() -> None:
    concept = {"text": "t", "coding": [{"display": f"d{i}"} for i in range(10)]}
    assert concept_texts(concept, max_codings=2) == ["t", "d0", "d1"]
