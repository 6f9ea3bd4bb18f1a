"""Class-balanced P x K batches."""
import numpy as np
import pytest
from helpers import tiny_batch

from dvml_tf.data import pipeline, sampling
from dvml_tf.data.splits import ARRAY, ImageSplit


def _labels():
    # 12 classes of 1 to 14 images, shuffled, class ids not contiguous.
    rng = np.random.default_rng(3)
    labels = np.concatenate([np.full(n, 100 + 7 * c) for c, n in enumerate(
        [1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 3, 7])])
    return rng.permutation(labels)


def test_every_batch_holds_p_classes_of_k_images():
    labels = _labels()
    table = sampling.build_class_table(labels, images_per_class=4)
    assert table.dropped_classes == 1 and table.classes_below_k == 3
    for batch in range(60):
        indices = sampling.pk_batch_indices(table, 5, 4, seed=1, batch_number=batch).numpy()
        batch_labels = labels[indices].reshape(5, 4)
        # Contiguous groups of K, P distinct classes, none of them the single-image class.
        assert (batch_labels == batch_labels[:, :1]).all()
        assert len(set(batch_labels[:, 0])) == 5
        assert 100 not in batch_labels
        for group in indices.reshape(5, 4):
            class_size = np.sum(labels == labels[group[0]])
            if class_size >= 4:  # without replacement when the class is big enough
                assert len(set(group)) == 4


def test_batches_cover_all_usable_classes_and_are_reproducible():
    labels = _labels()
    table = sampling.build_class_table(labels, 4)
    seen = set()
    for batch in range(40):
        first = sampling.pk_batch_indices(table, 5, 4, seed=9, batch_number=batch).numpy()
        again = sampling.pk_batch_indices(table, 5, 4, seed=9, batch_number=batch).numpy()
        np.testing.assert_array_equal(first, again)
        seen.update(labels[first])
    assert seen == set(np.unique(labels)) - {100}
    other_seed = sampling.pk_batch_indices(table, 5, 4, seed=10, batch_number=0).numpy()
    assert not np.array_equal(other_seed, sampling.pk_batch_indices(table, 5, 4, 9, 0).numpy())


def test_pipeline_resumes_the_same_stream():
    images, _ = tiny_batch(classes=6, per_class=5)
    labels = np.repeat(np.arange(6), 5)
    split = ImageSplit(images.astype(np.uint8), labels, ARRAY)
    table = sampling.build_class_table(labels, 2)
    sizes = pipeline.ImageSizes(18, 16, flip=True)
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
    batches = list(pipeline.eval_dataset(split, pipeline.ImageSizes(resize, crop), 4))
    labels = np.concatenate([y.numpy() for _, y in batches])
    np.testing.assert_array_equal(labels, np.arange(6))
    assert batches[0][0].shape[1:] == (crop, crop, 3)
