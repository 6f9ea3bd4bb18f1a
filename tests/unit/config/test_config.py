"""RunConfig: one source per default, flag files that hold only what differs from it, and
validation that names the bad setting (in-process, no absl needed)."""
import json
import os
import re

import pytest
from commands import ROOT

from dvml_tf.cli.settings import parse_config
from dvml_tf.config import config_from_saved, resolve_config
from dvml_tf.config_parts import TrainingSettings
from dvml_tf.errors import UserError


def _demo_arguments():
    """The arguments `make demo` passes to dvml_tf.main."""
    with open(os.path.join(ROOT, "Makefile")) as f:
        line = next(line for line in f if "-m dvml_tf.main" in line)
    return line.split("-m dvml_tf.main", 1)[1].split()


def test_a_bare_run_is_the_demo_but_for_its_folder():
    demo = parse_config(_demo_arguments())
    assert demo.replace(model_dir=TrainingSettings.model_dir) == parse_config([])


def test_dataset_defaults_yield_to_what_the_user_sets():
    assert parse_config([]).model.backbone == "small_cnn"
    assert parse_config([]).training.learning_rate == 1e-3
    assert parse_config(["--backbone=googlenet"]).model.backbone == "googlenet"
    assert parse_config(["--dataset=cub"]).model.backbone == "googlenet"
    assert parse_config(["--dataset=sop"]).evaluation.recall_k == (1, 10, 100, 1000)
    assert parse_config(["--dataset=sop", "--recall_k=1,2"]).evaluation.recall_k == (1, 2)


def _flag_lines(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("name", ["paper", "cub", "cars", "sop"])
def test_every_line_of_a_flag_file_changes_the_config(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    lines = _flag_lines(os.path.join(ROOT, "flags", f"{name}.cfg"))
    whole = parse_config(lines)
    for line in lines:
        assert parse_config([other for other in lines if other != line]) != whole, line


@pytest.mark.parametrize("dataset", ["cub", "cars", "sop"])
def test_paper_flag_files_give_the_papers_network(dataset, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = parse_config([f"--flagfile=flags/{dataset}.cfg"])
    data, model = config.data, config.model
    assert (data.dataset, model.backbone, data.image_size, data.resize_size) == (
        dataset, "googlenet", 224, 256)
    assert (model.embedding_dim, model.num_samples, config.training.learning_rate) == (
        512, 20, 1e-4)
    assert (model.phase1_lambdas, model.phase2_lambdas) == ((1, 1, 0.1, 1), (0.8, 1, 0.2, 0.8))
    assert config.training.train_steps == (60000 if dataset == "sop" else 20000)


BAD_SETTINGS = {
    "train_steps": {"train_steps": 0},
    "learning_rate": {"learning_rate": -1.0},
    "synthesized_in_metric": {"num_samples": 4, "synthesized_in_metric": 5},
    "kl_free_bits": {"kl_free_bits": -0.5},
    "image_size": {"image_size": 40, "resize_size": 36},
    "images_per_class": {"images_per_class": 1},
    "classes_per_batch": {"classes_per_batch": 1},
    "eval_every": {"eval_every": -5},
    "eval_bootstrap": {"eval_bootstrap": -1},
    "recall_k": {"recall_k": ["1", "x"]},
    "phase1_lambdas": {"phase1_lambdas": [1, 1, 1]},
    "split_file": {"split_file": "split.txt"},
    "model_name": {"model_name": "../outside"},
    "data_dir": {"dataset": "folder"},
    "dataset": {"dataset": "imagenet"},
    "metric_loss": {"metric_loss": "arcface"},
    "metric_reduction": {"metric_reduction": "median"},
    "reconstruction": {"reconstruction": "l1"},
    "variance_heads_init": {"variance_heads_init": "ones"},
    "num_proxies": {"num_proxies": -1},
    "cross_batch_memory": {"cross_batch_memory": 64, "metric_loss": "triplet_semihard"},
    "cross_batch_memory_start": {"cross_batch_memory_start": -1},
    "proxy_lr_multiplier": {"proxy_lr_multiplier": 0.0},
    "strategy": {"strategy": "parameter_server"},
    "no_such_setting": {"no_such_setting": 1},
}


@pytest.mark.parametrize("name", sorted(BAD_SETTINGS))
def test_bad_setting_is_a_one_line_user_error_naming_it(name):
    with pytest.raises(UserError) as raised:
        resolve_config(BAD_SETTINGS[name])
    message = str(raised.value)
    assert re.match(rf"--{name}\b", message) and "\n" not in message, message


def test_list_flags_and_tuples_resolve_alike():
    from_flags = parse_config(["--phase2_lambdas=0.5,1,0.2,0.5", "--recall_k=1,3"])
    direct = resolve_config({"phase2_lambdas": (0.5, 1, 0.2, 0.5), "recall_k": (1, 3)})
    assert from_flags == direct and direct.evaluation.recall_k == (1, 3)


def test_half_of_the_steps_is_phase1_unless_set():
    assert resolve_config({"train_steps": 100}).model.phase1_steps == 50
    assert resolve_config({"train_steps": 100, "phase1_steps": 7}).model.phase1_steps == 7


def test_saved_config_round_trips_and_older_runs_take_defaults():
    config = parse_config(["--dataset=sop", "--embedding_dim=64"])
    assert config_from_saved(json.loads(config.to_json())) == config
    older = {key: value for key, value in json.loads(config.to_json()).items()
             if key != "synthesized_in_metric"}
    assert config_from_saved({**older, "retired_setting": 1}) == config


def test_eval_and_export_take_the_trained_runs_data_unless_set(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    trained = resolve_config({"dataset": "digits"}).replace(model_dir=str(run))
    from dvml_tf.training.checkpoints import save_run_config

    save_run_config(trained)
    for mode in ("eval", "export"):
        config = parse_config([f"--model_dir={run}", f"--mode={mode}"])
        assert (config.data.dataset, config.export.model_name) == ("digits", "dvml_digits")
        assert config.data.image_size == 32  # the digits' default, not the glyphs'
    chosen = parse_config([f"--model_dir={run}", "--mode=eval", "--dataset=glyphs"])
    assert (chosen.data.dataset, chosen.export.model_name) == ("glyphs", "dvml_digits")
    assert parse_config([f"--model_dir={run}"]).data.dataset == "glyphs"  # training: the default
    untrained = parse_config([f"--model_dir={tmp_path / 'none'}", "--mode=eval"])
    assert untrained.data.dataset == "glyphs"


@pytest.mark.parametrize("flag", ["--learning_rate=nan", "--learning_rate=inf",
                                  "--phase1_lambdas=nan,1,1,1", "--margin=-inf",
                                  "--kl_free_bits=nan", "--npairs_l2_reg=nan"])
def test_a_non_finite_number_is_refused_naming_its_flag(flag):
    """NaN passes `<= 0`: a NaN learning rate once trained to all-NaN weights."""
    name = flag.split("=")[0]
    with pytest.raises(UserError, match=rf"^{name}=\S+: every number must be finite$"):
        parse_config([flag])


@pytest.mark.parametrize("argv", [[], ["--flagfile=flags/paper.cfg"]])
def test_a_bare_run_and_the_papers_flag_file_resolve_the_papers_choices(argv, monkeypatch):
    """flags/paper.cfg relies on these defaults: eq. 9 as a distance, random variance heads."""
    monkeypatch.chdir(ROOT)
    config = parse_config(argv)
    assert (config.model.reconstruction, config.model.variance_heads_init) == ("distance", "random")
    assert config.loss.metric_reduction == "sum" and config.model.num_samples == 20
