"""The supported stacks: an unsupported TensorFlow, a Keras other than 3, or TF-Addons asked
for where it cannot import, is a one-line error naming the versions and what to install;
and `import dvml_tf` leaves the user's process as it was."""
import os
import subprocess
import sys

import pytest
import tensorflow as tf
from commands import ROOT

from dvml_tf import stack
from dvml_tf.cli.settings import parse_config
from dvml_tf.errors import UserError
from dvml_tf.losses.backend import tfa_losses


@pytest.mark.parametrize("version", ["2.14.1", "2.23.0", "3.0.0"])
def test_unsupported_tensorflow_is_named_with_the_install_command(monkeypatch, version):
    monkeypatch.setattr(tf, "__version__", version)
    with pytest.raises(UserError) as raised:
        stack.check_stack()
    message = str(raised.value)
    assert f"TensorFlow {version} is not supported" in message and "pip install" in message
    assert "\n" not in message


def test_tensorflow_216_or_newer_without_keras_3_says_what_to_install(monkeypatch):
    monkeypatch.setattr(tf, "__version__", "2.21.0")
    monkeypatch.setitem(sys.modules, "keras", None)  # import keras now fails
    with pytest.raises(UserError, match=r'needs Keras 3 for dvml_tf: pip install "keras>=3\.5"'):
        stack.check_stack()


def test_the_reference_stack_is_named_as_the_losses_only(monkeypatch):
    monkeypatch.setattr(tf, "__version__", "2.15.1")
    with pytest.raises(UserError, match=r"2\.15\.1 is the reference stack: only dvml_tf\.losses"):
        stack.check_stack()


def test_import_dvml_tf_changes_nothing_and_tf_keras_stays_keras_3():
    code = ("import os, sys; before = dict(os.environ); import dvml_tf; "
            "print(dict(os.environ) == before, 'tensorflow' in sys.modules, "
            "'keras' in sys.modules); import tensorflow as tf; "
            "dvml_tf.MetricLossLayer; print(tf.keras.__version__.split('.')[0], "
            "'TF_USE_LEGACY_KERAS' in os.environ)")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, check=True)
    assert result.stdout.split() == ["True", "False", "False", "3", "False"]


@pytest.mark.skipif(tfa_losses() is not None, reason="TF-Addons imports on this stack")
def test_tfa_backend_where_tf_addons_cannot_import_is_one_line():
    with pytest.raises(UserError, match=r"^--metric_loss_backend=tfa: TF-Addons does not "
                                        r"import with TensorFlow .*requirements-reference\.txt"):
        parse_config(["--metric_loss_backend=tfa"])


def test_auto_backend_is_tf_addons_exactly_where_it_imports():
    from dvml_tf.losses import standard
    from dvml_tf.losses.backend import loss_functions

    assert loss_functions("auto") is (tfa_losses() or standard)
    assert loss_functions("own") is standard


@pytest.mark.slow
def test_an_error_is_the_only_line_a_command_prints():
    result = subprocess.run([sys.executable, "-m", "dvml_tf.main", "--train_steps=0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["error: --train_steps=0 must be positive"]


@pytest.mark.parametrize("module,package", [("grpc", "grpcio"),
                                            ("tensorflow_serving", "tensorflow-serving-api")])
def test_a_missing_serving_extra_is_named_in_one_line(monkeypatch, module, package):
    from dvml_tf.serving.client import predict_grpc

    monkeypatch.setitem(sys.modules, module, None)  # import `module` now fails
    with pytest.raises(UserError) as raised:
        predict_grpc("localhost:1", "dvml", [b""])
    assert str(raised.value) == (f'grpc needs {package}, which is not installed: '
                                 'pip install "dvml_tf[serving]"')
