from pathlib import Path

from blincompass.dictionary import load_dictionary, reported_terms
from blincompass.dictionary.render import load_paper_map, render_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-dictionary.md"
D = load_dictionary()


def test_committed_doc_is_fresh():
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/data-dictionary.md is stale: run `blincompass dictionary --markdown docs/data-dictionary.md`"
    )


def test_render_is_deterministic_and_complete():
    text = render_markdown()
    assert text == render_markdown()
    for form in D.forms:
        assert f"### `{form.name}`" in text
        for v in form.variables:
            assert f"| `{v.name}` |" in text
    for t in reported_terms():
        assert f"| {t} |" in text
    assert "`kmt2a` = KMT2A rearrangement" in text
    assert "if disease_status is one of: first_relapse, second_relapse, refractory" in text


def test_paper_map_names_existing_variables():
    pm = load_paper_map()
    assert set(pm) == {"table1", "table2", "section33"}
    valid = {f"{f.name}.{c}" for f in D.forms for c in f.columns} | {"adverse_events.ae_term_ctcae"}
    for section, entries in pm.items():
        assert entries, section
        for e in entries:
            assert e["variables"], e
            assert set(e["variables"]) <= valid, (section, e)


def test_paper_map_covers_table1_rows():
    rows = " ".join(e["row"] for e in load_paper_map()["table1"])
    for label in ("Total patients", "Male", "Female", "pre-B", "Common", "pro-B", "Hyperdiploid", "t(12;21)",
                  "t(3;9)", "Normal karyotype", "Unknown cytogenetic status", "iAMP21", "Ph-like", "KMT2A",
                  "Absence of mutations", "Standard", "Medium", "High", "Front line", "First relapse",
                  "Second or greater relapse", "Refractory", "Relapses", "Bone marrow", "Molecular relapse",
                  "Combined relapse", "Yes / No", "After debulking", "PCR-MRD positive", "FC-MRD positive",
                  "<5%", ">5%", ">25% blasts", "<18 months", ">30 months", "<12 months", ">18 years"):
        assert label in rows, label
    t2 = " ".join(e["row"] for e in load_paper_map()["table2"])
    for term in reported_terms():
        assert term in t2, term
