"""The losses import without Keras: the reference stack (TensorFlow 2.15 with TF-Addons)
runs them, and Keras 3 cannot be installed there."""
import subprocess
import sys


def test_the_losses_import_no_keras_of_their_own():
    # TensorFlow >= 2.16 imports Keras itself; the losses must add no Keras module to it.
    code = ("import sys, tensorflow; before = set(sys.modules); "
            "import dvml_tf.losses.metric, dvml_tf.losses.backend, dvml_tf.losses.variational; "
            "print(sorted(m for m in set(sys.modules) - before "
            "if m.split('.')[0] in ('keras', 'tf_keras') or m.startswith('dvml_tf.models')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
