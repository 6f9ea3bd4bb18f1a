"""dvml_tf: Deep Variational Metric Learning (Lin et al., ECCV 2018) in TensorFlow 2 / Keras 2."""
import warnings

# TF-Addons 0.23.0 (its last release) announces its end of life on import.
warnings.filterwarnings("ignore", message=r"[\s\S]*TensorFlow Addons \(TFA\) has ended")

__version__ = "0.1.0"
