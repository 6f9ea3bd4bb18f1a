"""TF-Slim's Inception v1 checkpoint -> a Keras 3 weights file (*.weights.h5, the only
name Keras 3 writes) for --backbone=googlenet.

Every backbone weight must come from the checkpoint, and every checkpoint variable must
fill one, except the ImageNet classifier (InceptionV1/Logits/...) and global_step, which a
feature extractor has no place for. Anything else is a one-line UserError naming the first
mismatch, and nothing is written.
"""
import os

import numpy as np
import tensorflow as tf

from dvml_tf.cache import cache_dir
from dvml_tf.errors import UserError, first_line, flag
from dvml_tf.files import WEIGHTS_SUFFIX, check_new_weights_file, save_weights_atomically
from dvml_tf.models.googlenet import googlenet, slim_variables

CHECKPOINT_URL = "http://download.tensorflow.org/models/inception_v1_2016_08_28.tar.gz"
# Image size the weights are checked at: any size gives the same variables.
BUILD_SIZE = 224


def _not_backbone(name: str) -> bool:
    """Checkpoint variables the backbone leaves out on purpose: the ImageNet classifier and
    the training step."""
    return name.startswith("InceptionV1/Logits/") or name == "global_step"


def imagenet_weights_path() -> str:
    """Where --backbone_weights=imagenet looks for converted GoogLeNet weights."""
    return os.path.join(cache_dir(), "weights", f"inception_v1_imagenet{WEIGHTS_SUFFIX}")


def imagenet_weights_missing() -> UserError:
    """The error of --backbone_weights=imagenet without converted weights: the commands
    that make them."""
    path = imagenet_weights_path()
    return UserError(
        f"--backbone_weights=imagenet: no converted Inception v1 weights at {path}; make "
        f"them with: curl -LO {CHECKPOINT_URL} && tar xzf inception_v1_2016_08_28.tar.gz && "
        f"python -m dvml_tf.convert_weights --checkpoint=inception_v1.ckpt --out={path}")


def _reader(checkpoint: str):
    try:
        return tf.train.load_checkpoint(checkpoint)
    except (tf.errors.OpError, ValueError, OSError) as error:
        raise UserError(f"{flag('checkpoint')}={checkpoint}: not a readable TensorFlow checkpoint "
                        f"({first_line(error, 160)})") from None


def convert(checkpoint: str, out: str) -> int:
    """Writes `out`, a Keras weights file of the googlenet backbone, from TF-Slim's Inception
    v1 `checkpoint`; returns the number of variables copied."""
    check_new_weights_file(out)
    reader = _reader(checkpoint)
    shapes = reader.get_variable_to_shape_map()
    model = googlenet(BUILD_SIZE)
    targets = slim_variables(model)
    for name, variable in targets.items():
        if name not in shapes:
            raise UserError(f"{flag('checkpoint')}={checkpoint}: has no {name}; not TF-Slim's "
                            "Inception v1 (inception_v1_2016_08_28)")
        if tuple(shapes[name]) != tuple(variable.shape):
            raise UserError(f"{flag('checkpoint')}={checkpoint}: {name} has shape "
                            f"{shapes[name]}, the backbone's is {list(variable.shape)}")
    unused = sorted(name for name in shapes if name not in targets and not _not_backbone(name))
    if unused:
        raise UserError(f"{flag('checkpoint')}={checkpoint}: {unused[0]} has no place in the "
                        f"backbone ({len(unused)} such variables); not TF-Slim's Inception v1")
    try:
        for name, variable in targets.items():
            variable.assign(np.asarray(reader.get_tensor(name), np.float32))
    except (tf.errors.OpError, IndexError, ValueError) as error:  # IndexError: truncated
        raise UserError(f"{flag('checkpoint')}={checkpoint}: cannot read its values, truncated? "
                        f"({first_line(error, 160)})") from None
    save_weights_atomically(model, out)
    return len(targets)
