"""The document of a dictionary other than BLIN-COMPASS: its own forms and checks, no publication map."""

from blincompass.dictionary.render import render_markdown
from tests.validate.test_generic import CART, _dictionary


def test_render_other_study(tmp_path):
    text = render_markdown(_dictionary(tmp_path, CART))
    assert "### `infusions`: Infusions" in text
    assert "Rows per patient: at least one." in text
    assert ("| `infusion.numbering` | error | `infusions` | `infusion` numbered 1, 2, ... without gaps for each "
            "patient |") in text
    assert ("| `crs.grade5_without_death` | error | `infusions` | where crs_grade is one of: 5: requires "
            "patients.death_date is given |") in text
    assert "| `centre` | the centre's variable in the patient form" in text
    assert "From the publication" not in text and "Adverse-event terms" not in text
