"""The supported stacks: an unsupported TensorFlow, a missing tf-keras, or TF-Addons asked
for where it cannot import, is a one-line error naming the versions and what to install."""
import subprocess
import sys

import pytest
import tensorflow as tf
from commands import ROOT

from dvml_tf import stack
from dvml_tf.cli.settings import parse_config
from dvml_tf.errors import UserError
from dvml_tf.losses.backend import tfa_losses


@pytest.mark.parametrize("version", ["2.14.1", "2.22.0", "3.0.0"])
def test_unsupported_tensorflow_is_named_with_the_install_command(monkeypatch, version):
    monkeypatch.setattr(tf, "__version__", version)
    with pytest.raises(UserError) as raised:
        stack.check_stack()
    message = str(raised.value)
    assert f"TensorFlow {version} is not supported" in message and "pip install" in message
    assert "\n" not in message


def test_tensorflow_216_or_newer_without_tf_keras_says_what_to_install(monkeypatch):
    monkeypatch.setattr(tf, "__version__", "2.21.0")
    monkeypatch.setitem(sys.modules, "tf_keras", None)  # import tf_keras now fails
    with pytest.raises(UserError, match=r'needs tf-keras .*pip install "tf-keras~=2\.21\.0"'):
        stack.check_stack()


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
