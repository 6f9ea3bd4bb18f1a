"""The frozen part of the backbone (all of it with --freeze_backbone, the layers below
--fine_tune_from otherwise), run once per image; every training step and evaluation of a
run, and later runs on the same weights and images, read its output instead.

It applies when training draws no random crop (--resize_size equal to --image_size): each
training input is then one of two fixed images, the image or, with --random_flip, its
mirror, and a frozen part (batch norm in inference mode, no dropout) maps it to a fixed
output. Training reads the outputs in the same P x K order, with the same flips, as it would
read the images (pipeline.pk_stream), so a cached run equals an uncached one up to float
rounding. The arrays are kept in memory and saved in the cache folder
(features/<fingerprint>.npy) under a fingerprint of the frozen part's weights, the
preprocessing and the images; a file that does not load is computed again.
"""
import hashlib
import logging
import os
from typing import NamedTuple, Optional

import keras
import numpy as np
import tensorflow as tf

from dvml_tf.cache import cache_dir
from dvml_tf.config import RunConfig
from dvml_tf.data import pipeline, preprocessing
from dvml_tf.data.preprocessing import ImageSizes
from dvml_tf.data.sampling import ClassTable
from dvml_tf.data.splits import ARRAY, ImageSplit
from dvml_tf.files import replace_atomically
from dvml_tf.models.backbone_split import split_backbone
from dvml_tf.models.dvml import FEATURES_KEY
from dvml_tf.terminal import STATUS, CountProgress


class FeatureCache(NamedTuple):
    train: np.ndarray  # [N_train, views, ...]: view 0 the image, view 1 its mirror
    test: np.ndarray  # [N_test, ...]


def applies(config: RunConfig, replicas: int) -> bool:
    """Whether a run's training inputs are fixed images through a fixed part."""
    return ((config.model.freeze_backbone or bool(config.model.fine_tune_from))
            and config.training.feature_cache
            and config.data.resize_size == config.data.image_size
            and replicas == 1 and config.training.mode in ("train_and_eval", "train"))


def _fingerprint(frozen: keras.Model, split: ImageSplit, sizes: ImageSizes,
                 views: int) -> str:
    """What the features depend on: weights, preprocessing, the images (their bytes, or
    their files' paths, sizes and modification times)."""
    digest = hashlib.sha256(f"{frozen.name}|{sizes.resize_size}|{sizes.crop_size}|{views}"
                            .encode())
    for weight in frozen.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    if split.kind == ARRAY:
        digest.update(np.ascontiguousarray(split.images).tobytes())
    else:
        for path in split.images:
            status = os.stat(path)
            digest.update(f"{path}|{status.st_size}|{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def compute_features(frozen: keras.Model, split: ImageSplit, sizes: ImageSizes,
                     views: int, batch_size: int) -> np.ndarray:
    """[N, views, ...] float32: the frozen part (inference mode) on each image of `split`
    resized to sizes.crop_size, and on its mirror image when views is 2."""
    forward = tf.function(lambda images: frozen(images, training=False))
    parts = []
    progress = CountProgress(f"caching the frozen backbone's features ({views} per image)",
                             len(split))
    unflipped = ImageSizes(sizes.resize_size, sizes.crop_size, False)
    for images, _ in pipeline.eval_dataset(split, unflipped, batch_size):
        batch = [forward(images)] + ([forward(images[:, :, ::-1])] if views == 2 else [])
        parts.append(np.stack([tf.cast(b, tf.float32).numpy() for b in batch], axis=1))
        progress.advance(len(images))
    progress.done(summary=False)
    return np.concatenate(parts)


def _saved(path: str, features: np.ndarray) -> None:
    """Saves the array through replace_atomically: readers see all of it or none. A full
    disk keeps it in this run's memory only."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        replace_atomically(path, lambda temporary: np.save(temporary, features))
    except OSError as error:
        logging.warning("could not save the feature cache %s (%s); kept in memory", path,
                        error.strerror or error)


def cached_features(frozen: keras.Model, split: ImageSplit, sizes: ImageSizes,
                    views: int, batch_size: int) -> np.ndarray:
    """compute_features, read from the cache folder when it holds them."""
    path = os.path.join(cache_dir(), "features",
                        f"{_fingerprint(frozen, split, sizes, views)}.npy")
    if os.path.isfile(path):
        try:
            features = np.load(path, allow_pickle=False)
            if features.shape[:2] == (len(split), views) and np.isfinite(features).all():
                logging.info("frozen backbone's features read from %s", path)
                return features
        except (OSError, ValueError, EOFError):
            pass
        logging.warning("%s does not hold this split's features; computing them again", path)
    features = compute_features(frozen, split, sizes, views, batch_size)
    _saved(path, features)
    return features


def for_run(config: RunConfig, backbone: keras.Model, train_split: ImageSplit,
            test_split: ImageSplit, replicas: int) -> Optional[FeatureCache]:
    """The run's cached outputs of the backbone's frozen part, or None where the cache does
    not apply."""
    if not applies(config, replicas):
        return None
    fine_tune_from = config.model.fine_tune_from
    frozen = split_backbone(backbone, fine_tune_from).below if fine_tune_from else backbone
    views = 2 if config.data.random_flip else 1
    sizes = config.image_sizes(training=False)
    train = cached_features(frozen, train_split, sizes, views, config.evaluation.eval_batch_size)
    test = cached_features(frozen, test_split, sizes, 1, config.evaluation.eval_batch_size)[:, 0]
    STATUS.clear()
    return FeatureCache(train, test)


def train_dataset(features: np.ndarray, split: ImageSplit, table: ClassTable,
                  config: RunConfig, start_batch: int) -> tf.data.Dataset:
    """pipeline.train_dataset's batches with each image's cached output in its place:
    ({FEATURES_KEY: [P*K, ...]}, labels [P*K])."""
    table_of_features = tf.constant(features)
    flips = config.data.random_flip

    def example(index, image_seed):
        view = tf.cast(preprocessing.train_flips(image_seed), tf.int64) if flips else 0
        return {FEATURES_KEY: table_of_features[index, view]}

    return pipeline.pk_stream(split.labels, table, config.data.classes_per_batch,
                              config.data.images_per_class, config.training.seed, example,
                              start_batch)
