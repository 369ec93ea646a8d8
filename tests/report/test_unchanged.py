"""The built-in study's report stays byte for byte what it was: every output file of two reports (the test
cohort, and the synthetic twin with its published-vs-recomputed section) against fingerprints recorded
before the report's wording moved into the study package's layout.

Figure files and the images inside index.html and report.docx depend on the matplotlib and FreeType
builds; they are compared only when this matplotlib is the one the fingerprints were recorded with (the
texts, tables and results always are). Regenerate after an intended change with
``BLINCOMPASS_RECORD=1 pytest tests/report/test_unchanged.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from pathlib import Path

import matplotlib
import pytest

from blincompass.protocol import load_protocol
from blincompass.report import build_report, write_report
from blincompass.validate import load_dataset

FIXTURE = Path(__file__).parent / "fixtures" / "unchanged.json"
_IMG = re.compile(rb"data:image/svg\+xml;base64,[A-Za-z0-9+/=]+")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(out: Path) -> dict[str, str]:
    """SHA-256 of every output: texts whole, HTML without its embedded images, DOCX member by member
    without word/media; figure files (``figures/...``) separately."""
    fp: dict[str, str] = {}
    for name in ("results.json", "tables.xlsx"):
        fp[name] = _sha((out / name).read_bytes())
    html = (out / "index.html").read_bytes()
    fp["index.html:text"] = _sha(_IMG.sub(b"IMG", html))
    fp["index.html"] = _sha(html)
    with zipfile.ZipFile(io.BytesIO((out / "report.docx").read_bytes())) as z:
        for info in sorted(z.infolist(), key=lambda i: i.filename):
            if not info.filename.startswith("word/media/"):
                fp[f"report.docx:{info.filename}"] = _sha(z.read(info))
    fp["report.docx"] = _sha((out / "report.docx").read_bytes())
    for p in sorted((out / "figures").iterdir()):
        fp[f"figures/{p.name}"] = _sha(p.read_bytes())
    return fp


def _image_dependent(key: str) -> bool:
    return key.startswith("figures/") or key in ("index.html", "report.docx")


#: The provenance block's run date and commit, fixed so that the fingerprints do not depend on the day or on
#: the checkout's commit.
PROVENANCE_ENV = {"SOURCE_DATE_EPOCH": "1767225600", "BLINCOMPASS_COMMIT": "fingerprint"}
#: The software versions the statistical methods paragraph names, fixed for the same reason (the Python,
#: numpy and scipy of the test run may differ from those the fingerprints were recorded with).
SOFTWARE = {"blincompass": "fingerprint", "Python": "3", "numpy": "2", "scipy": "1"}


@pytest.fixture(scope="module")
def fingerprints(dataset, derived, tmp_path_factory) -> dict[str, dict[str, str]]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in PROVENANCE_ENV.items():
            mp.setenv(key, value)
        mp.setattr("blincompass.report.methods.software_versions", lambda: dict(SOFTWARE))
        return _fingerprints(dataset, derived, tmp_path_factory)


def _fingerprints(dataset, derived, tmp_path_factory) -> dict[str, dict[str, str]]:
    from blincompass.synth.twin import write_twin

    out: dict[str, dict[str, str]] = {}
    cohort = tmp_path_factory.mktemp("cohort_report")
    write_report(build_report(dataset, load_protocol(), derived=derived, synthetic=False), cohort)
    out["cohort"] = fingerprint(cohort)
    folder = tmp_path_factory.mktemp("twin_data")
    write_twin(folder, seed=0)
    validation = load_dataset(folder)
    twin = tmp_path_factory.mktemp("twin_report")
    write_report(build_report(validation.dataset, load_protocol(), synthetic=True,
                              findings=validation.findings), twin)
    out["twin"] = fingerprint(twin)
    return out


def test_outputs_unchanged(fingerprints):
    if os.environ.get("BLINCOMPASS_RECORD"):
        FIXTURE.write_text(json.dumps({"matplotlib": matplotlib.__version__, "reports": fingerprints},
                                      indent=1, sort_keys=True) + "\n", encoding="utf-8")
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    same_images = recorded["matplotlib"] == matplotlib.__version__
    for name, expected in recorded["reports"].items():
        got = fingerprints[name]
        keys = [k for k in expected if same_images or not _image_dependent(k)]
        assert sorted(k for k in got if same_images or not _image_dependent(k)) == sorted(keys), name
        changed = [k for k in keys if got[k] != expected[k]]
        assert not changed, f"{name} report: these outputs changed: {changed}"
