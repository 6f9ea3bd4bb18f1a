"""`python -m dvml_tf.convert_weights --checkpoint=inception_v1.ckpt --out=F.weights.h5`:
TF-Slim's ImageNet Inception v1 checkpoint as a Keras 3 weights file for
--backbone=googlenet --backbone_weights=F.weights.h5 (dvml_tf/models/slim_checkpoint.py).
With --out left out, it writes the file --backbone_weights=imagenet looks for."""
from typing import List

from absl import flags

from dvml_tf.cli.common import run_command
from dvml_tf.errors import UserError
from dvml_tf.models.slim_checkpoint import convert, imagenet_weights_path

FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    flags.DEFINE_string("checkpoint", None, "TF-Slim checkpoint prefix, e.g. "
                        "inception_v1.ckpt from inception_v1_2016_08_28.tar.gz.",
                        flag_values=flag_values)
    flags.DEFINE_string("out", None, "The weights file to write (*.weights.h5); default: the "
                        "cache file --backbone_weights=imagenet reads.", flag_values=flag_values)


def main(argv: List[str]) -> None:
    if len(argv) > 1:
        raise UserError(f"unexpected arguments {' '.join(argv[1:])}")
    if not FLAGS.checkpoint:
        raise UserError("--checkpoint is required (a TF-Slim Inception v1 checkpoint prefix)")
    out = FLAGS.out or imagenet_weights_path()
    count = convert(FLAGS.checkpoint, out)
    print(f"wrote {out}: {count} variables of {FLAGS.checkpoint}")


def run() -> None:
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
