"""The site summary and the pooling as a vantage6 algorithm (optional extra ``vantage6``).

``partial_summarise`` runs at each node (a vantage6 *federated* step) on the node's data frame and returns
the node's :class:`~blincompass.federate.SiteSummary` document; ``central_pool`` (a *central* step) asks
the organisations to run it and pools their summaries with :func:`~blincompass.federate.pool`. The
functions are the same as ``blincompass federate summarise`` / ``pool``; only the transport differs.

The node's data frame holds the site's forms stacked: a column ``form`` naming the form of each row
(``patients``, ``courses``, ...) and the forms' columns as in the data-collection template, as text
(e.g. ``pandas.read_csv(..., dtype=str, keep_default_na=False)`` of each template CSV). The node writes
them back to CSV files and reads them with the same reader and validator as ``blincompass validate``; a
data set with validation errors is refused.

The study package travels as ``study_files`` (file name -> text, e.g. ``{"protocol.toml": ...,
"dictionary.toml": ...}``; ``None``: the built-in package); its SHA-256 is checked at pooling as always.
vantage6-algorithm-tools 5 needs Python >= 3.13; ``tests/federate/run_vantage6_mock.sh`` runs this module
under its ``MockNetwork`` / ``MockAlgorithmClient`` with three organisations.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from vantage6.algorithm.decorator import algorithm_client, central, dataframe, federated

from blincompass.federate.pool import pool
from blincompass.federate.summary import FederationError, SiteSummary, summarise
from blincompass.study import StudyPackage, load_study

__all__ = ["central_pool", "partial_summarise", "site_dataset"]


def _study(study_files: dict[str, str] | None, folder: Path) -> StudyPackage:
    if study_files is None:
        return load_study(None)
    for name, text in study_files.items():
        if "/" in name or "\\" in name or not name.endswith(".toml"):
            raise FederationError(f"study_files: {name!r} is not the name of a study package file (*.toml)")
        (folder / name).write_bytes(text.encode("utf-8"))
    return load_study(folder)


def site_dataset(frame: pd.DataFrame, study: StudyPackage, folder: Path) -> Any:
    """The typed data set of a node's stacked forms (see the module docstring), validated."""
    from blincompass.validate import load_dataset

    if "form" not in frame.columns:
        raise FederationError("node data: no 'form' column naming the form of each row")
    known = set(study.dictionary.form_names)
    unknown = sorted(set(map(str, frame["form"])) - known)
    if unknown:
        raise FederationError(f"node data: form {unknown[0]!r} is not a form of the data dictionary")
    for form in study.dictionary.forms:
        names = [v.name for v in form.variables if v.name in frame.columns]
        rows = frame.loc[frame["form"].astype(str) == form.name, names]
        text = rows.map(lambda v: "" if v is None or (isinstance(v, float) and v != v) else str(v))
        text.to_csv(folder / f"{form.name}.csv", index=False, lineterminator="\n")
    result = load_dataset(folder, study.dictionary)
    if not result.ok:
        first = next(f for f in result.findings if f.severity == "error")
        raise FederationError(f"node data: {result.n_errors} validation error(s), first: {first.file} "
                              f"row {first.row} {first.field}: {first.message} ({first.rule})")
    return result.dataset


@federated
@dataframe(1)
@algorithm_client
def partial_summarise(client: Any, df: pd.DataFrame, study_files: dict[str, str] | None = None,
                      withhold: list[str] | None = None) -> dict[str, Any]:
    """Node step: the disclosure-controlled summary of this organisation's data (a JSON document).

    The site label is ``organization <id>``. Raises the same errors as
    :func:`blincompass.federate.summarise` (a count below the threshold that merging cannot fix)."""
    with tempfile.TemporaryDirectory(prefix="blincompass-v6-") as tmp:
        root = Path(tmp)
        (root / "study").mkdir()
        (root / "data").mkdir()
        study = _study(study_files, root / "study")
        dataset = site_dataset(df, study, root / "data")
        summary = summarise(study, dataset, site=f"organization {client.organization_id}", withhold=withhold or ())
    return json.loads(summary.to_json())


@central
@algorithm_client
def central_pool(client: Any, study_files: dict[str, str] | None = None, organizations: list[int] | None = None,
                 withhold: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Central step: run :func:`partial_summarise` at the organisations (default: all of the collaboration)
    and pool the summaries; returns the pooled results (as ``results.json`` of ``federate pool``)."""
    orgs = organizations or [int(o["id"]) for o in client.organization.list()]
    with tempfile.TemporaryDirectory(prefix="blincompass-v6-") as tmp:
        study = _study(study_files, Path(tmp))
    summaries = []
    for org in orgs:
        task = client.task.create(
            method="partial_summarise",
            organizations=[org],
            name="blincompass site summary",
            description="Disclosure-controlled aggregates of the site's data (blincompass federate summarise)",
            arguments={"study_files": study_files, "withhold": (withhold or {}).get(str(org), [])},
        )
        for doc in client.wait_for_results(task["id"]):
            summaries.append(SiteSummary.from_json(json.dumps(doc), f"organization {org}"))
    return pool(summaries, study).results
