"""`python -m dvml_tf.main`: train, evaluate and export DVML models.

One flag per RunConfig setting (dvml_tf/config.py, through cli/settings.py); the flags a
user sets, on the command line or in a --flagfile, become the RunConfig.

    python -m dvml_tf.main                          # the glyphs: shows learning in minutes on a CPU
    python -m dvml_tf.main --flagfile=flags/cub.cfg --data_dir=~/tensorflow_datasets
"""
import logging as std_logging
from typing import List

from dvml_tf.cli.common import run_command
from dvml_tf.cli.settings import config_from_flags, define_flags
from dvml_tf.errors import UserError
from dvml_tf.training.run import run_modes


def main(argv: List[str]) -> None:
    if len(argv) > 1:
        raise UserError(f"unexpected arguments {' '.join(argv[1:])}")
    std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)
    run_modes(config_from_flags())


def run() -> None:
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
