"""The TFDS datasets, mocked, come out re-split by class as the zero-shot protocol says."""
import io
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from dvml_tf.data import upstream_hosts
from dvml_tf.data.tfds_datasets import load_tfds_splits

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def hosts_answer(monkeypatch):
    """TFDS is mocked here: the upstream hosts count as reachable."""
    monkeypatch.setattr(upstream_hosts, "_unreachable", lambda url, timeout: None)


def _png(value):
    buffer = io.BytesIO()
    Image.fromarray(np.full((6, 5, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _mock_examples(label_key, num_labels, split_offset):
    """as_dataset_fn giving encoded images and labels that repeat, different per split."""

    def as_dataset(self, split, decoders=None, **kwargs):
        offset = split_offset.get(str(split), 0)
        labels = (np.arange(3 * num_labels) + offset) % num_labels
        images = [_png(int(label)) for label in labels]
        return tf.data.Dataset.from_tensor_slices({"image": images, label_key: labels})

    return as_dataset


@pytest.mark.parametrize("dataset,num_labels,first_test", [("cub", 200, 100), ("cars", 196, 98)])
def test_cub_and_cars_merge_both_splits_then_split_by_class(tmp_path, dataset, num_labels,
                                                            first_test):
    with tfds.testing.mock_data(as_dataset_fn=_mock_examples("label", num_labels,
                                                             {"test": 1})):
        train, test = load_tfds_splits(dataset, str(tmp_path))
    assert set(train.labels) == set(range(first_test))
    assert set(test.labels) == set(range(first_test, num_labels))
    # Both TFDS splits (train, test) contribute to each: 3 per split, 6 images per class.
    assert len(train) == 6 * first_test and len(test) == 6 * (num_labels - first_test)
    # Streamed from files written once; the image is the one its label came with.
    image = tf.io.decode_png(tf.io.read_file(test.images[0])).numpy()
    assert image[0, 0, 0] == test.labels[0]


def test_sop_keeps_tfds_splits_with_class_id_labels(tmp_path):
    with tfds.testing.mock_data(as_dataset_fn=_mock_examples("class_id", 50,
                                                             {"test": 50})):
        train, test = load_tfds_splits("sop", str(tmp_path))
    assert len(train) == len(test) == 150
    assert set(train.labels) == set(range(50)) and set(test.labels) == set(range(50))


def test_corrupt_records_are_skipped_and_files_reused(tmp_path, caplog):
    good = _mock_examples("class_id", 10, {"test": 10})

    def with_corrupt(self, split, decoders=None, **kwargs):
        dataset = good(self, split)
        broken = tf.data.Dataset.from_tensors({"image": b"\x89PNG\r\n\x1a\ntruncated",
                                               "class_id": np.int64(3)})
        return dataset.concatenate(broken)

    with tfds.testing.mock_data(as_dataset_fn=with_corrupt):
        train, _ = load_tfds_splits("sop", str(tmp_path))
    assert len(train) == 30 and "skipped 1 images" in caplog.text

    def unreachable(self, split, **kwargs):
        raise AssertionError("the image files written the first time are reused")

    with tfds.testing.mock_data(as_dataset_fn=unreachable):
        again, _ = load_tfds_splits("sop", str(tmp_path))
    np.testing.assert_array_equal(again.images, train.images)


@pytest.mark.parametrize("dataset,module,package", [("cub", "cv2", "opencv-python-headless"),
                                                    ("cars", "scipy", "scipy")])
def test_a_missing_datasets_extra_is_named_in_one_line(dataset, module, package, monkeypatch,
                                                        tmp_path):
    from dvml_tf.data.tfds_datasets import TFDS_NAMES
    from dvml_tf.errors import UserError

    monkeypatch.setitem(sys.modules, module, None)  # import `module` now fails
    with pytest.raises(UserError) as raised:
        load_tfds_splits(dataset, str(tmp_path))
    assert str(raised.value) == (
        f"dataset={dataset} (preparing TFDS's {TFDS_NAMES[dataset]}) needs {package}, "
        'which is not installed: pip install "dvml_tf[datasets]"')
    assert not any(tmp_path.iterdir())


def test_cars196_upstream_labels_are_zero_based(tmp_path):
    """The .mat's classes count from 1; TFDS's labels (and the split at 98) from 0."""
    import io

    import scipy.io
    import upstream_datasets

    from dvml_tf.data.manual_datasets import _cars_annotations

    buffer = io.BytesIO()
    scipy.io.savemat(buffer, upstream_datasets._cars_annotations({"a.jpg": 0, "b.jpg": 98}))
    assert _cars_annotations(buffer.getvalue(), "x.mat") == {"a.jpg": 0, "b.jpg": 98}


def test_sop_upstream_lists_keep_their_own_split(tmp_path):
    import upstream_datasets

    from dvml_tf.data.manual_datasets import _sop_listing

    files = upstream_datasets.write_sop(tmp_path, [1, 2], [11319])
    listing = _sop_listing(files["Stanford_Online_Products.zip"])
    splits = {split for split, label in listing.values() if label < 11318}
    assert splits == {"train"}
    assert {split for split, label in listing.values() if label >= 11318} == {"test"}
