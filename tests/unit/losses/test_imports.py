"""The losses stand below the models: importing them loads nothing of dvml_tf.models or
dvml_tf.training (the reference stack runs them with TensorFlow 2.15's own Keras 2)."""
import subprocess
import sys


def test_the_losses_import_nothing_of_the_models_or_training():
    code = ("import sys, tensorflow; before = set(sys.modules); "
            "import dvml_tf.losses.metric, dvml_tf.losses.backend, dvml_tf.losses.variational; "
            "print(sorted(m for m in set(sys.modules) - before "
            "if m.startswith(('dvml_tf.models', 'dvml_tf.training', 'dvml_tf.data'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
