"""examples/quickstart.py, the Python API's walk-through, runs and shows learning: trained
metrics above untrained, a search that finds the query's character, an export
that serves what the model in memory computes."""
import re
import subprocess
import sys

import pytest
from commands import ROOT

pytestmark = pytest.mark.slow


def test_quickstart_trains_searches_and_exports(tmp_path):
    result = subprocess.run([sys.executable, "examples/quickstart.py", "--steps=300",
                             f"--out={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = {name: (float(before), float(after)) for name, before, after in re.findall(
        r"^(\S+)\s+untrained ([\d.]+) -> trained ([\d.]+)$", result.stdout, re.M)}
    assert set(metrics) == {"recall@1", "map@r", "nmi", "f1"}
    untrained, trained = metrics["recall@1"]
    assert trained > 0.5 > untrained
    query = re.search(r"^query '(.)': nearest (.*)$", result.stdout, re.M)
    neighbours = re.findall(r"'(.)' \(", query.group(2))
    # Recall@1 ~0.7: the four nearest of the query's 39 classmates hold at least one.
    assert len(neighbours) == 4 and query.group(1) in neighbours
    served = float(re.search(r"max \|served - in memory\| = (\S+)", result.stdout).group(1))
    assert served < 1e-4
    assert (tmp_path / "export" / "glyphs" / "1" / "saved_model.pb").is_file()
