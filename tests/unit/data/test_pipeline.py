"""tf.data pipelines: a resumed training stream, ordered evaluation crops."""
import numpy as np
import pytest
from helpers import tiny_batch

from dvml_tf.data import pipeline, sampling
from dvml_tf.data.preprocessing import ImageSizes
from dvml_tf.data.splits import ARRAY, ImageSplit


def test_pipeline_resumes_the_same_stream():
    images, _ = tiny_batch(classes=6, per_class=5)
    labels = np.repeat(np.arange(6), 5)
    split = ImageSplit(images.astype(np.uint8), labels, ARRAY)
    table = sampling.build_class_table(labels, 2)
    sizes = ImageSizes(18, 16, flip=True)
    full = list(pipeline.train_dataset(split, table, sizes, 3, 2, seed=4).take(5))
    resumed = list(pipeline.train_dataset(split, table, sizes, 3, 2, seed=4, start_batch=3)
                   .take(2))
    for (x_full, y_full), (x_res, y_res) in zip(full[3:], resumed):
        np.testing.assert_array_equal(y_full.numpy(), y_res.numpy())
        np.testing.assert_array_equal(x_full.numpy(), x_res.numpy())
    assert full[0][0].shape == (6, 16, 16, 3)


@pytest.mark.parametrize("resize,crop", [(18, 16), (16, 16)])
def test_eval_pipeline_is_ordered_centre_crops(resize, crop):
    images, _ = tiny_batch(classes=2, per_class=3)
    split = ImageSplit(images.astype(np.uint8), np.arange(6), ARRAY)
    batches = list(pipeline.eval_dataset(split, ImageSizes(resize, crop), 4))
    labels = np.concatenate([y.numpy() for _, y in batches])
    np.testing.assert_array_equal(labels, np.arange(6))
    assert batches[0][0].shape[1:] == (crop, crop, 3)
