"""Run the vantage6 algorithm (blincompass.federate.vantage6) under vantage6's MockNetork with three
organisations holding the synthetic twin split by centre; compare with ``federate summarise`` + ``pool``.

Runs in a Python >= 3.13 environment with vantage6-algorithm-tools 5 (see run_vantage6_mock.sh); exit 0
and a last line "OK ..." when the pooled results of the vantage6 run equal those of the local pooling.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from blincompass.federate import pool, summarise
from blincompass.study import load_study
from blincompass.validate import load_dataset
from tests.federate.sites import FORMS, split_twin, study_with

SITES = {"north": ("SYN-C1", "SYN-C2"), "centre": ("SYN-C3", "SYN-C4"), "south": ("SYN-C5", "SYN-C6", "SYN-C7")}


def stacked(folder: Path) -> pd.DataFrame:
    parts = []
    for form in FORMS:
        df = pd.read_csv(folder / f"{form}.csv", dtype=str, keep_default_na=False)
        df.insert(0, "form", form)
        parts.append(df)
    return pd.concat(parts, ignore_index=True).fillna("")


def main() -> int:
    from vantage6.algorithm.mock.network import MockNetwork

    os.environ["SOURCE_DATE_EPOCH"] = "1767225600"
    root = Path(tempfile.mkdtemp(prefix="blincompass-v6-test-"))
    dirs = split_twin(root / "twin", SITES)
    names = list(SITES)
    pkg = study_with(root / "study", time_grid=1, time_unit="days", threshold=1)
    files = {p.name: p.read_text("utf-8") for p in sorted(pkg.glob("*.toml"))}
    network = MockNetwork(module_name="blincompass.federate.vantage6",
                          datasets=[{"sites": {"database": stacked(dirs[n])}} for n in names])
    client = network.user_client
    df_id = client.dataframe.list()[0]["id"]
    task = client.task.create(method="central_pool", organizations=[1], arguments={"study_files": files},
                              databases=[{"type": "dataframe", "dataframe_id": df_id}])
    (result,) = client.wait_for_results(task["id"])
    study = load_study(pkg)
    local = [summarise(study, load_dataset(dirs[n]).dataset, site=f"organization {i}")
             for i, n in enumerate(names, start=1)]
    expected = json.loads(json.dumps(pool(local, study).results))
    if result != expected:
        print("vantage6 pooled results differ from the local pooling", file=sys.stderr)
        return 1
    n = result["survival"]["os_all"]["n"]
    sites = [s["site"] for s in result["sites"]]
    if n != 39 or len(sites) != 3:
        print(f"unexpected pooled population: n={n}, sites={sites}", file=sys.stderr)
        return 1
    print(f"OK vantage6 MockNetwork: {len(sites)} organisations pooled, os_all n={n}, equal to federate pool")
    return 0


if __name__ == "__main__":
    sys.exit(main())
