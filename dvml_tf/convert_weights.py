"""`python -m dvml_tf.convert_weights`: TF-Slim's Inception v1 checkpoint -> GoogLeNet
weights (dvml_tf/cli/convert_weights.py)."""
from dvml_tf.cli.convert_weights import run

if __name__ == "__main__":
    run()
