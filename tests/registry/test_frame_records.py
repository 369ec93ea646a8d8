"""An import's plan and the web pages read a typed frame's rows as dicts (``schema.frame_records``): the
database values and template texts made of them are those made of the rows of ``iterrows``."""

from __future__ import annotations

import random

from blincompass.dictionary import load_dictionary
from blincompass.io.raw import read_raw
from blincompass.registry.schema import format_value, frame_records, row_from_frame
from blincompass.synth import write_twin
from blincompass.validate import validate
from tests.validate.helpers import copy_example
from tests.validate.test_small import _damaged

D = load_dictionary()


def test_rows_as_dicts_give_the_values_and_texts_of_iterrows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    raw = read_raw(copy_example(tmp_path))
    write_twin(tmp_path / "twin", seed=4)
    inputs = [raw, read_raw(tmp_path / "twin")]
    keys = sorted({str(c[0]).strip().casefold() for _, c in raw.tables["patients"].rows})
    rng = random.Random(7)
    inputs += [_damaged(raw, rng.choice(keys), seed) for seed in range(12)]  # cells set missing by errors too
    n = 0
    for r in inputs:
        ds = validate(r, D).dataset
        for form in D.forms:
            frame = ds.forms[form.name]
            old = [(row_from_frame(form, row), [format_value(v, row) for v in form.variables])
                   for _, row in frame.iterrows()]
            new = [(row_from_frame(form, row), [format_value(v, row) for v in form.variables])
                   for row in frame_records(frame)]
            assert new == old, form.name
            n += len(new)
    assert n > 400
