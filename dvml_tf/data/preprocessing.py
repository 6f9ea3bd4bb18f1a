"""The paper's preprocessing: square resize, random crop and flip to train, centre crop to test.

Outputs are float32 in [0, 255]; each backbone applies its own normalisation.
"""
import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class ImageSizes:
    """resize_size: the square resize; crop_size: the network's input size; flip: random
    horizontal flips (training only)."""

    resize_size: int
    crop_size: int
    flip: bool = True


def _resize(image, resize_size):
    image = tf.cast(image, tf.float32)
    return tf.image.resize(image, [resize_size, resize_size], antialias=True)


def train_preprocess(image: tf.Tensor, seed: tf.Tensor, resize_size: int, crop_size: int,
                     flip: bool) -> tf.Tensor:
    """Resize to resize_size, random crop_size crop, optional horizontal flip; stateless in seed."""
    image = _resize(image, resize_size)
    crop_seed, flip_seed = _crop_and_flip_seeds(seed)
    image = tf.image.stateless_random_crop(image, [crop_size, crop_size, 3], seed=crop_seed)
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    return image


def _crop_and_flip_seeds(seed: tf.Tensor):
    return tf.unstack(tf.random.experimental.stateless_split(seed, 2))


def train_flips(seed: tf.Tensor) -> tf.Tensor:
    """Whether train_preprocess(image, seed, ..., flip=True) mirrors the image: its own flip
    op on a two-pixel image, so the decision is the same by construction."""
    two_pixels = tf.constant([[[0.0], [1.0]]])
    flipped = tf.image.stateless_random_flip_left_right(two_pixels,
                                                        seed=_crop_and_flip_seeds(seed)[1])
    return flipped[0, 0, 0] > 0.5


def eval_preprocess(image: tf.Tensor, resize_size: int, crop_size: int) -> tf.Tensor:
    """Resize to resize_size and take the central crop_size square."""
    image = _resize(image, resize_size)
    offset = (resize_size - crop_size) // 2
    return image[offset : offset + crop_size, offset : offset + crop_size]


def eval_preprocess_batch(images: tf.Tensor, resize_size: int, crop_size: int) -> tf.Tensor:
    """eval_preprocess of each image of a batch [N, H, W, 3] -> [N, crop, crop, 3]."""
    return tf.map_fn(lambda image: eval_preprocess(image, resize_size, crop_size), images,
                     fn_output_signature=tf.TensorSpec([crop_size, crop_size, 3], tf.float32))
