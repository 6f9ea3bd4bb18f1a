"""A message names a setting as its user gave it: by its bare name (the Python argument or
RunConfig field) in Python, as its flag while a command runs."""
import subprocess
import sys

import pytest

from dvml_tf.errors import UserError, flag, settings_named_as_flags
from dvml_tf.models.backbones import build_backbone


def test_python_callers_read_the_argument_and_commands_the_flag():
    with pytest.raises(UserError, match=r"^backbone=vgg16 is unknown"):
        build_backbone("vgg16", 64)
    with settings_named_as_flags(), pytest.raises(UserError, match=r"^--backbone=vgg16 is "):
        build_backbone("vgg16", 64)
    assert flag("model_dir") == "model_dir"  # and back to Python's names afterwards


def test_a_command_names_the_flag_in_its_one_line_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "dvml_tf.cli.visualize",
                             f"--model_dir={tmp_path / 'none'}"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"error: --model_dir={tmp_path / 'none'}: no trained run found"), result.stderr
