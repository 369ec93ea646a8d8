"""The vantage6 algorithm under vantage6's MockNetwork / MockAlgorithmClient with three organisations.

vantage6-algorithm-tools 5 needs Python >= 3.13, so the run happens in its own environment
(.venv-vantage6, made by ``tests/federate/run_vantage6_mock.sh --setup``, which ``.ci/run`` calls when a
Python 3.13 interpreter exists); without that environment the test is skipped.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("BLINCOMPASS_V6_VENV", ROOT / ".venv-vantage6"))


@pytest.mark.skipif(not (VENV / ".installed").exists(),
                    reason="no vantage6 environment (tests/federate/run_vantage6_mock.sh --setup; Python 3.13)")
def test_vantage6_mock_network_pools_three_organisations() -> None:
    env = {**os.environ, "BLINCOMPASS_V6_VENV": str(VENV)}
    run = subprocess.run(["bash", str(ROOT / "tests/federate/run_vantage6_mock.sh")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    last = run.stdout.strip().splitlines()[-1]
    assert last == "OK vantage6 MockNetwork: 3 organisations pooled, os_all n=39, equal to federate pool"
