"""The real TFDS builders of CUB-200-2011, Cars196 and SOP, fed tiny copies of their
upstream downloads offline, prepare and train end to end through --dataset=cub|cars|sop.

A missing dependency of a builder (importlib_resources, OpenCV, SciPy) or a changed
builder fails here.
"""
import json

import numpy as np
import pytest
import tensorflow as tf
import upstream_datasets as upstream

from dvml_tf.cli.settings import parse_config
from dvml_tf.training.run import run_modes

pytestmark = pytest.mark.slow

# (writer of the upstream files, TFDS labels of the test classes)
DATASETS = {
    "cub": (lambda mirror: upstream.write_cub(mirror, [1, 2, 3, 101, 102]), {100, 101}),
    "cars": (lambda mirror: upstream.write_cars(mirror, [0, 1, 2, 98, 99]), {98, 99}),
    "sop": (lambda mirror: upstream.write_sop(mirror, [1, 2, 3], [11319, 11320]),
            {11318, 11319}),
}
TINY_RUN = ["--backbone=small_cnn", "--image_size=16", "--resize_size=18", "--embedding_dim=8",
            "--decoder_hidden=8", "--num_samples=2", "--classes_per_batch=2",
            "--images_per_class=2", "--train_steps=2", "--checkpoint_every=2", "--recall_k=1"]


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_real_builder_prepares_offline_and_trains(tmp_path, dataset):
    write, test_labels = DATASETS[dataset]
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data_dir, model_dir = tmp_path / "tensorflow_datasets", tmp_path / "run"
    with upstream.offline_downloads(write(mirror)):
        metrics = run_modes(parse_config([
            f"--dataset={dataset}", f"--data_dir={data_dir}", f"--model_dir={model_dir}",
            f"--export_dir={tmp_path / 'export'}", *TINY_RUN]))
    assert metrics["num_test_classes"] == len(test_labels) and metrics["step"] == 2
    assert json.loads((model_dir / "metrics.json").read_text())["step"] == 2
    assert (tmp_path / "export" / f"dvml_{dataset}" / "1" / "saved_model.pb").exists()
    # The images written from the TFDS records keep their labels.
    cached = next((data_dir / "dvml_tf_images").glob("*/*/test/index.json"))
    index = json.loads(cached.read_text())
    for name, label in zip(index["files"], index["labels"]):
        image = tf.io.decode_jpeg(tf.io.read_file(str(cached.parent / name))).numpy()
        np.testing.assert_allclose(image.mean((0, 1)), upstream.label_colour(label), atol=6)
    if dataset == "sop":
        assert set(index["labels"]) == test_labels
