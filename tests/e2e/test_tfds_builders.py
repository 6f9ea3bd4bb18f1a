"""The paper's datasets as users get them: the real TFDS builders fed tiny copies of their
upstream downloads offline, the package's own reader of the same files (the route when a
host is gone), a fast one-line failure when a host does not answer, and --keep_downloads.

A missing dependency of a builder (importlib_resources, OpenCV, SciPy) or a changed
builder fails here.
"""
import collections
import json
import os
import re
import shutil
import tarfile
import time
import zipfile
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
import upstream_datasets as upstream

from dvml_tf.cli.settings import parse_config
from dvml_tf.data import upstream_hosts
from dvml_tf.data.tfds_datasets import TFDS_NAMES, load_tfds_splits
from dvml_tf.errors import UserError
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
            "--images_per_class=2", "--train_steps=2", "--checkpoint_every=2", "--recall_k=1",
            "--nofigures"]


def _mirror(tmp_path, dataset):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    return DATASETS[dataset][0](mirror)


def _colours_by_label(split):
    """{label: sorted mean colours of its images}: what a split holds, whatever its order."""
    colours = collections.defaultdict(list)
    for path, label in zip(split.images, split.labels):
        image = tf.io.decode_jpeg(tf.io.read_file(path)).numpy()
        colours[int(label)].append(tuple(np.round(image.mean((0, 1)) / 10)))
    return {label: sorted(values) for label, values in colours.items()}


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_real_builder_prepares_offline_and_trains(tmp_path, dataset):
    files = _mirror(tmp_path, dataset)
    test_labels = DATASETS[dataset][1]
    data_dir, model_dir = tmp_path / "tensorflow_datasets", tmp_path / "run"
    requested = []
    with upstream.offline_downloads(files, requested):
        metrics = run_modes(parse_config([
            f"--dataset={dataset}", f"--data_dir={data_dir}", f"--model_dir={model_dir}",
            f"--export_dir={tmp_path / 'export'}", *TINY_RUN]))
    # The hosts checked before TFDS starts are the ones its builder downloads from.
    assert set(requested) == set(upstream_hosts.UPSTREAM_URLS[dataset])
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


def _extract(files, folder):
    """The upstream files as users often have them: each archive extracted."""
    folder.mkdir()
    for name, path in files.items():
        if name.endswith(".tgz"):
            with tarfile.open(path) as archive:
                archive.extractall(folder, filter="data")
        elif name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                archive.extractall(folder)
        else:
            shutil.copy(path, folder / name)
    return folder


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_the_upstream_files_of_a_user_give_the_splits_tfds_gives_without_network(
        tmp_path, dataset):
    files = _mirror(tmp_path, dataset)
    with upstream.offline_downloads(files):
        through_tfds = load_tfds_splits(dataset, str(tmp_path / "tfds"))
    mirror = tmp_path / "mirror"
    before = {p: p.read_bytes() for p in mirror.rglob("*") if p.is_file()}
    for folder in (mirror, _extract(files, tmp_path / "extracted")):
        with mock.patch.object(tfds, "builder", side_effect=AssertionError("TFDS was used")):
            own = load_tfds_splits(dataset, str(folder))
        for ours, theirs in zip(own, through_tfds):
            assert _colours_by_label(ours) == _colours_by_label(theirs)
        assert (folder / "dvml_tf_images" / TFDS_NAMES[dataset] / "upstream").is_dir()
    assert {p: p.read_bytes() for p in before} == before  # the user's files only read


def test_upstream_files_of_a_user_train_end_to_end(tmp_path):
    _mirror(tmp_path, "cars")
    with mock.patch.object(tfds, "builder", side_effect=AssertionError("TFDS was used")):
        metrics = run_modes(parse_config([
            "--dataset=cars", f"--data_dir={tmp_path / 'mirror'}",
            f"--model_dir={tmp_path / 'run'}", "--export_dir=", *TINY_RUN]))
    assert metrics["num_test_classes"] == 2 and metrics["step"] == 2


def test_some_upstream_files_missing_are_named_in_one_line(tmp_path):
    files = _mirror(tmp_path, "cars")
    os.remove(files["car_devkit.tgz"])
    with pytest.raises(UserError) as raised:
        load_tfds_splits("cars", str(tmp_path / "mirror"))
    assert str(raised.value) == (
        f"data_dir={tmp_path / 'mirror'} holds some of dataset=cars's upstream files but "
        "not car_devkit.tgz (or the folders they extract to)")


def test_a_partial_upstream_folder_is_refused_and_never_cached_as_complete(tmp_path):
    """A CUB folder whose extraction did not finish: an error naming what is missing, no
    index written; once the user completes it, all of it is prepared."""
    files = _mirror(tmp_path, "cub")
    extracted = _extract({"CUB_200_2011.tgz": files["CUB_200_2011.tgz"]}, tmp_path / "cub")
    removed = tmp_path / "removed"
    shutil.move(str(extracted / "CUB_200_2011" / "images" / "102.Bird_102"), str(removed))
    with pytest.raises(UserError, match=f"^data_dir={extracted}: 4 of the 20 images that "
                                        "caltech_birds2011 .* lists are missing"):
        load_tfds_splits("cub", str(extracted))
    assert not list(extracted.rglob("index.json"))
    shutil.move(str(removed), str(extracted / "CUB_200_2011" / "images" / "102.Bird_102"))
    train, test = load_tfds_splits("cub", str(extracted))
    assert (len(train), len(test)) == (12, 8)


def test_a_cache_is_prepared_again_when_the_archive_changes_or_its_index_is_cut(tmp_path):
    files = _mirror(tmp_path, "cub")
    mirror = tmp_path / "mirror"
    first = load_tfds_splits("cub", str(mirror))
    index = next(mirror.rglob("test/index.json"))
    index.write_text(index.read_text()[:40])  # cut short: prepared again, not a traceback
    again = load_tfds_splits("cub", str(mirror))
    assert [len(s) for s in again] == [len(s) for s in first]
    upstream.write_cub(mirror, [1, 2, 3, 101, 102, 103])  # a new archive: one more class
    bigger = load_tfds_splits("cub", str(mirror))
    assert (len(bigger[0]), len(bigger[1])) == (12, 12)
    assert files["CUB_200_2011.tgz"] == str(mirror / "CUB_200_2011.tgz")


def test_a_damaged_member_is_one_line_naming_it(tmp_path):
    """A tgz cut inside a member's data, after its listing: the member's read fails."""
    listing = b"1 001.Bird_1/a.jpg\n"
    noise = np.random.default_rng(0).bytes(400_000)  # incompressible: the cut lands in it
    path = upstream._tar_gz(tmp_path / "whole.tgz", {
        "CUB_200_2011/images.txt": listing,
        "CUB_200_2011/images/001.Bird_1/a.jpg": b"\xff\xd8\xff" + noise})
    cut = tmp_path / "cut"
    cut.mkdir()
    data = open(path, "rb").read()
    (cut / "CUB_200_2011.tgz").write_bytes(data[:len(data) * 3 // 4])
    with pytest.raises(UserError, match=r"CUB_200_2011.tgz: cannot read its member "
                                        r"CUB_200_2011/images/001.Bird_1/a.jpg \("):
        load_tfds_splits("cub", str(cut))
    assert not list(cut.rglob("index.json"))


@pytest.mark.parametrize("line,message", [
    (b"999", r"images.txt line 1 reads '999', not '<id> <class number>"),
    (b"999 xyz.Bird/b.jpg", r"images.txt line 1 reads '999 xyz.Bird/b.jpg', not"),
    (b"1 \xff\xfe.Bird/b.jpg", r"images.txt is not UTF-8 text"),
])
def test_a_malformed_listing_is_one_line_naming_file_and_line(tmp_path, line, message):
    upstream._tar_gz(tmp_path / "CUB_200_2011.tgz", {"CUB_200_2011/images.txt": line + b"\n"})
    with pytest.raises(UserError, match=message):
        load_tfds_splits("cub", str(tmp_path))


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_a_host_that_does_not_answer_is_one_line_within_30_s_leaving_nothing(
        tmp_path, dataset, monkeypatch):
    # Port 1 of the loopback: refused at once, as a machine without network refuses.
    dead = tuple(f"http://127.0.0.1:1/{os.path.basename(url.split('?')[0])}"
                 for url in upstream_hosts.UPSTREAM_URLS[dataset])
    monkeypatch.setitem(upstream_hosts.UPSTREAM_URLS, dataset, dead)
    data_dir = tmp_path / "tensorflow_datasets"
    started = time.monotonic()
    with pytest.raises(UserError) as raised:
        load_tfds_splits(dataset, str(data_dir))
    assert time.monotonic() - started < 30
    message = str(raised.value)
    assert message.startswith(f"dataset={dataset}: cannot download {dead[0]} (")
    assert "pass it as data_dir (BUILD.md" in message and "\n" not in message
    assert not data_dir.exists()


def test_a_gone_file_is_named_with_its_http_status(tmp_path, monkeypatch):
    import http.server
    import threading

    class Gone(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Gone)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/~jkrause/car196/cars_train.tgz"
    monkeypatch.setitem(upstream_hosts.UPSTREAM_URLS, "cars", (url,))
    try:
        assert upstream_hosts.first_unreachable("cars") == (url, "HTTP 404")
    finally:
        server.shutdown()


def test_a_failed_preparation_removes_what_it_made_and_nothing_else(tmp_path):
    files = _mirror(tmp_path, "cars")
    data_dir = tmp_path / "tensorflow_datasets"
    data_dir.mkdir()
    (data_dir / "mine.txt").write_text("keep")
    del files["cars_test.tgz"]  # TFDS's download of it fails midway through preparation
    with upstream.offline_downloads(files), pytest.raises(UserError, match="TFDS could not"), \
            mock.patch.object(upstream_hosts, "_unreachable", lambda url, timeout: None):
        load_tfds_splits("cars", str(data_dir))
    assert sorted(p.name for p in data_dir.iterdir()) == ["mine.txt"]


def test_keep_downloads_false_drops_tfds_files_once_the_images_are_written(tmp_path):
    files = _mirror(tmp_path, "sop")
    data_dir = tmp_path / "tensorflow_datasets"
    with upstream.offline_downloads(files):
        kept = load_tfds_splits("sop", str(data_dir))
    name = TFDS_NAMES["sop"]
    assert (data_dir / "downloads" / name).is_dir() and (data_dir / name).is_dir()
    # A later run with --keep_downloads=false: the images are complete, TFDS's files go.
    dropped = load_tfds_splits("sop", str(data_dir), keep_downloads=False)
    assert not (data_dir / "downloads" / name).exists()
    assert not any((data_dir / name).iterdir())
    with mock.patch.object(tfds.core.DatasetBuilder, "download_and_prepare",
                           side_effect=AssertionError("prepared again")):
        again = load_tfds_splits("sop", str(data_dir))
    for split in (dropped, again):
        np.testing.assert_array_equal(split[1].images, kept[1].images)


def test_tfds_progress_comes_in_our_own_lines_with_counts_and_its_bars_come_back_after(
        tmp_path, capfd):
    from tensorflow_datasets.core.utils import tqdm_utils

    files = _mirror(tmp_path, "cars")
    before = tqdm_utils.tqdm_lib
    with upstream.offline_downloads(files):
        load_tfds_splits("cars", str(tmp_path / "tensorflow_datasets"))
    captured = capfd.readouterr()
    assert "%|" not in captured.err + captured.out  # no tqdm bar
    lines = [line[9:] for line in captured.err.splitlines()]
    assert re.sub(r" \(\d+ s\)$", "", next(
        line for line in lines if "Generating train examples" in line)) == (
        "TFDS: Generating train examples: 10")  # TFDS knows no total in advance here
    assert any(re.fullmatch(r"writing the images of cars196 2\.1\.0: 20 / 20 \(\d+ s\)", line)
               for line in lines)  # seconds: 0 on an idle machine
    assert tqdm_utils.tqdm_lib is before and tqdm_utils._active  # as they were
