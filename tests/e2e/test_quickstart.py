"""examples/quickstart.py, the Python API's walk-through, runs end to end: metrics before
and after training, a search, an export that serves what the model in memory computes.
A few steps only: the README's Python block (tests/e2e/test_readme.py) shows the same API
learning over 300 steps."""
import re
import subprocess
import sys

import pytest
from commands import ROOT

pytestmark = pytest.mark.slow


def test_quickstart_trains_searches_and_exports(tmp_path):
    result = subprocess.run([sys.executable, "examples/quickstart.py", "--steps=20",
                             f"--out={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = {name: (float(before), float(after)) for name, before, after in re.findall(
        r"^(\S+)\s+untrained ([\d.]+) -> trained ([\d.]+)$", result.stdout, re.M)}
    assert set(metrics) == {"recall@1", "map@r", "nmi", "f1"}
    assert all(0 <= value <= 1 for pair in metrics.values() for value in pair)
    assert metrics["recall@1"][0] != metrics["recall@1"][1]  # it trained
    query = re.search(r"^query '(.)': nearest (.*)$", result.stdout, re.M)
    assert len(re.findall(r"'(.)' \(", query.group(2))) == 4
    served = float(re.search(r"max \|served - in memory\| = (\S+)", result.stdout).group(1))
    assert served < 1e-4
    assert (tmp_path / "export" / "glyphs" / "1" / "saved_model.pb").is_file()
