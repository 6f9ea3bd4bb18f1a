"""dvml_tf: Deep Variational Metric Learning (Lin et al., ECCV 2018) in TensorFlow 2 / Keras 2."""
import importlib.util
import os
import warnings

# TensorFlow's C++ log lines (oneDNN, CPU features, a failed cuInit on a machine without a
# GPU) must not reach a terminal ahead of a one-line error: only FATAL ones are shown.
# Set before any module of the package imports TensorFlow; TF_CPP_MIN_LOG_LEVEL=0 in the
# environment shows them all.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Where tf-keras is installed (the default stack, TensorFlow >= 2.16), tf.keras is then
# Keras 2, the API dvml_tf is written for (dvml_tf/keras_api.py), for TensorFlow's own
# modules too. TensorFlow 2.15 brings its own Keras 2 and has no tf-keras beside it.
if importlib.util.find_spec("tf_keras") is not None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

# TF-Addons 0.23.0 (its last release) announces its end of life on import.
warnings.filterwarnings("ignore", message=r"[\s\S]*TensorFlow Addons \(TFA\) has ended")

__version__ = "0.1.0"

from dvml_tf.stack import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()
