"""The README as a user follows it: its Python block runs as printed, and every command it
shows exists and takes the flags it is shown with."""
import os
import re
import subprocess
import sys

import pytest
from commands import ROOT

pytestmark = pytest.mark.slow
README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()


def test_the_readme_is_read_in_minutes():
    assert len(README.splitlines()) <= 150


def test_the_python_block_runs_as_printed(tmp_path):
    block, = re.findall(r"```python\n(.*?)```", README, re.DOTALL)
    assert len(block.strip().splitlines()) <= 15
    result = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = result.stdout.strip().splitlines()[-3:]  # after Keras's progress bar
    assert printed[0].startswith("{") and "'recall@1'" in printed[0]
    # 300 steps learn: Recall@1 of the unseen characters about 0.7 (0.09 untrained).
    recall = float(re.search(r"'recall@1': (?:np\.float\d+\()?([\d.]+)", printed[0]).group(1))
    assert recall > 0.5
    assert printed[1].startswith("[[(") and printed[2].endswith(os.path.join("glyphs", "1"))
    assert (tmp_path / "saved_models" / "glyphs" / "1" / "saved_model.pb").exists()


def _commands():
    """(module, [flags]) of every `python -m ...` the README shows."""
    shown = re.findall(r"python -m (dvml_tf[\w.]*)((?: (?:build|query))?(?: --?[\w-]+(?:=\S*)?)*)",
                       README)
    return [(module, re.findall(r"--(?:no)?([a-z_]+)", flags)) for module, flags in shown]


def test_every_command_shown_exists_and_takes_the_flags_it_is_shown_with():
    commands = _commands()
    assert {module for module, _ in commands} >= {
        "dvml_tf.main", "dvml_tf.cli.visualize", "dvml_tf.cli.embed", "dvml_tf.cli.evaluate",
        "dvml_tf.cli.index", "dvml_tf.cli.serving_client", "dvml_tf.convert_weights"}
    helps = {module: subprocess.Popen([sys.executable, "-m", module, "--help"], cwd=ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for module in {module for module, _ in commands}}
    listed = {}
    for module, process in helps.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, (module, stderr[-2000:])
        listed[module] = set(re.findall(r"^\s+--(?:\[no\])?(\w+):", stdout, re.MULTILINE))
    for module, flags in commands:
        unknown = set(flags) - listed[module] - {"flagfile"}
        assert not unknown, (module, unknown)
