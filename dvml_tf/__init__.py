"""dvml_tf: Deep Variational Metric Learning (Lin et al., ECCV 2018) in TensorFlow 2 / Keras 2."""
import os
import warnings

# TensorFlow's C++ start-up lines (oneDNN, CPU features) must not reach a terminal ahead
# of a one-line error; set before any module of the package imports TensorFlow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# TF-Addons 0.23.0 (its last release) announces its end of life on import.
warnings.filterwarnings("ignore", message=r"[\s\S]*TensorFlow Addons \(TFA\) has ended")

__version__ = "0.1.0"
