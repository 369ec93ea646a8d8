"""The cross-form checks, now declarations of the dictionary, give the findings the validator gave when they
were written in code: eight seeded corruptions of the example (``corrupt.py``), every finding compared."""

import datetime as dt
import json
from pathlib import Path

import pytest

from blincompass.validate import load_dataset
from tests.validate.corrupt import SEEDS, corrupt
from tests.validate.helpers import copy_example

EXPECTED = json.loads((Path(__file__).parent / "data" / "corrupted_findings.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("seed", SEEDS)
def test_corrupted_example_findings_unchanged(tmp_path, seed):
    ex = copy_example(tmp_path)
    corrupt(ex, seed)
    got = [f.to_dict() for f in load_dataset(ex, data_cutoff=dt.date(2030, 1, 1)).findings]
    assert got == EXPECTED[str(seed)]


def test_corruptions_reach_the_cross_form_rules():
    rules = {f["rule"] for found in EXPECTED.values() for f in found}
    assert {"course.numbering", "course.order", "course.dates", "assessment.course", "patient.courses",
            "patient.outcomes", "patient.baseline", "chronology.after_death", "chronology.followup_after_death",
            "chronology.after_last_followup", "chronology.first_course_before_event",
            "chronology.course_before_assessment", "chronology.assessment_after_next_course",
            "chronology.baseline_before_first_course", "reference", "key.unique"} <= rules
