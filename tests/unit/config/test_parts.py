"""RunConfig is the composition of its parts, each owning and validating its own fields
under the names its caller uses; the Python API builds the parts it needs, never a
RunConfig."""
import dataclasses

import pytest

from dvml_tf.config import PARTS, RunConfig, config_from_saved
from dvml_tf.config_parts import DataSettings, LossSettings, ModelSettings
from dvml_tf.errors import UserError


@pytest.mark.parametrize("part,message", [
    (LossSettings(ms_alpha=0.0), "{p}ms_alpha=0.0 must be positive"),
    (LossSettings(metric_loss="triplet_semihard", cross_batch_memory=8),
     "{p}cross_batch_memory works with {p}metric_loss="),
    (DataSettings(image_size=40, resize_size=36), "{p}image_size=40 exceeds {p}resize_size=36"),
    (ModelSettings(num_samples=2, synthesized_in_metric=3),
     "{p}synthesized_in_metric=3 must be between 1 and {p}num_samples=2"),
])
def test_each_part_checks_its_own_fields_naming_them_as_the_caller_does(part, message):
    """In Python by the argument's name; on the command line (prefix --) by its flag."""
    for prefix in ("", "--"):
        with pytest.raises(UserError, match="^" + message.format(p=prefix)):
            part.check(prefix)


def test_a_part_refuses_a_value_of_the_wrong_type_by_name():
    with pytest.raises(UserError, match=r"^embedding_dim='8': expected an integer"):
        ModelSettings(embedding_dim="8").check_types()


def test_flat_settings_go_to_their_parts_and_come_back():
    config = RunConfig.of(margin=0.3, image_size=16, resize_size=20, seed=4)
    assert (config.loss.margin, config.data.image_size, config.training.seed) == (0.3, 16, 4)
    assert config.replace(margin=0.1).loss.margin == 0.1 and config.loss.margin == 0.3
    assert config_from_saved(config.flat()) == config
    names = [field.name for part in PARTS.values() for field in dataclasses.fields(part)]
    assert sorted(config.flat()) == sorted(names) and len(set(names)) == len(names)
    with pytest.raises(UserError, match="no such setting"):
        config.replace(marginn=0.1)


def test_of_takes_the_dataset_s_defaults_as_the_command_line_does():
    from dvml_tf.cli.settings import parse_config

    config = RunConfig.of(dataset="digits", train_steps=800)
    assert (config.data.classes_per_batch, config.model.backbone) == (5, "small_cnn")
    assert config.replace(model_dir="x") == parse_config(
        ["--dataset=digits", "--train_steps=800", "--model_dir=x"]).replace(
            phase1_steps=-1, model_name=None)


def test_dvml_model_builds_no_run_config(monkeypatch):
    import dvml_tf

    def refuse(*args, **kwargs):
        raise AssertionError("the Python API built a RunConfig")

    monkeypatch.setattr(RunConfig, "__init__", refuse)
    model = dvml_tf.dvml_model(dvml_tf.backbone("small_cnn", 16), embedding_dim=8,
                               metric_loss="multi_similarity", ms_lambda=0.5, num_samples=3,
                               decoder_hidden=16, seed=3)
    assert model.metric_loss.metric.base == 0.5 and model.settings.num_samples == 3
    assert model.settings.seed == 3
    with pytest.raises(TypeError, match="unexpected setting 'train_steps'"):
        dvml_tf.dvml_model(dvml_tf.backbone("small_cnn", 16), train_steps=10)
