"""Flags only at the edge: every RunConfig field is a flag of the training command, and
each command's --help lists exactly the flags it reads."""
import re
import subprocess
import sys

import pytest
from absl import flags
from commands import ROOT

from dvml_tf.cli import (
    convert_weights,
    embed,
    evaluate,
    index,
    serving_client,
    settings,
    visualize,
)
from dvml_tf.config import SETTING_FIELDS, SETTINGS, resolve_config

COMMANDS = {
    "dvml_tf.main": set(SETTINGS),
    "dvml_tf.cli.evaluate": {"embeddings", "labels", "clustering", "recall_k", "kmeans_seed",
                             "query_embeddings", "query_labels", "bootstrap"},
    "dvml_tf.cli.visualize": {"model_dir", "data_dir", "max_images"},
    "dvml_tf.cli.embed": {"model", "images", "split", "out", "batch_size"},
    "dvml_tf.cli.index": {"export", "images", "index", "k", "batch_size"},
    "dvml_tf.cli.serving_client": {"server", "model_name", "grpc"},
    "dvml_tf.convert_weights": {"backbone", "checkpoint", "out"},
}
DEFINERS = {"dvml_tf.main": settings.define_flags, "dvml_tf.cli.evaluate": evaluate.define_flags,
            "dvml_tf.cli.visualize": visualize.define_flags,
            "dvml_tf.cli.embed": embed.define_flags,
            "dvml_tf.cli.index": index.define_flags,
            "dvml_tf.cli.serving_client": serving_client.define_flags,
            "dvml_tf.convert_weights": convert_weights.define_flags}


def test_every_setting_is_a_flag_whose_default_is_what_a_bare_run_uses():
    flag_values = flags.FlagValues()
    settings.define_flags(flag_values)
    bare = resolve_config({})  # python -m dvml_tf.main with no flags
    derived = {"phase1_steps": -1, "model_name": None}  # their help says how they derive
    flat = bare.flat()
    for field in SETTING_FIELDS.values():
        default = flag_values[field.name].default
        if field.name in derived:
            assert default == derived[field.name]
            continue
        expected = flat[field.name]
        if isinstance(expected, tuple):
            expected = [str(value) for value in expected]
            default = [str(value) for value in default]
        assert default == expected, field.name


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_defines_its_flags_and_refuses_others(command):
    flag_values = flags.FlagValues()
    DEFINERS[command](flag_values)
    assert set(flag_values) == COMMANDS[command]
    foreign = "train_steps" if command != "dvml_tf.main" else "max_images"
    with pytest.raises(flags.Error):
        flag_values(["command", f"--{foreign}=5"])


@pytest.mark.slow
def test_each_commands_help_lists_exactly_its_flags():
    processes = {command: subprocess.Popen([sys.executable, "-m", command, "--help"], cwd=ROOT,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True)
                 for command in COMMANDS}
    for command, process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0 and stderr == "", (command, stderr[-2000:])
        listed = set(re.findall(r"^\s+--(?:\[no\])?(\w+):", stdout, flags=re.MULTILINE))
        assert listed == COMMANDS[command], (command, stdout[-2000:], stderr[-2000:])


def test_help_says_which_datasets_change_a_default():
    flag_values = flags.FlagValues()
    settings.define_flags(flag_values)
    assert flag_values["train_steps"].help.endswith(
        "(with --dataset=digits: 800; cub, cars, sop, folder: 20000)")
    assert flag_values["backbone"].help.endswith("(with cub, cars, sop, folder: googlenet)")
    assert flag_values["learning_rate"].help.endswith("(with cub, cars, sop, folder: 0.0001)")
