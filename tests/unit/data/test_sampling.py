"""Class-balanced P x K batches."""
import numpy as np

from dvml_tf.data import sampling


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
