"""`python -m dvml_tf.main`: train, evaluate and export DVML models (dvml_tf/cli/train.py).

    python -m dvml_tf.main                          # the glyphs: shows learning in minutes on a CPU
    python -m dvml_tf.main --flagfile=flags/cub.cfg --data_dir=~/tensorflow_datasets
    python -m dvml_tf.main --helpfull               # every flag, absl's own included
"""
from dvml_tf.cli.train import run

if __name__ == "__main__":
    run()
