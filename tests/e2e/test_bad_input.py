"""Bad input replayed, one test per case: a one-line error naming what is at fault, or a
counted skip, and nothing already on disk changed or deleted.

Most cases run in-process on the library function behind the command line (run_command
turns a UserError into its one line and exit status 2; tests/test_cli_errors.py checks
that through real processes).
"""
import hashlib
import http.server
import io
import json
import logging
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from commands import ROOT
from PIL import Image

from dvml_tf.cli import evaluate
from dvml_tf.cli.settings import parse_config
from dvml_tf.data.folder import load_folder_splits, scan_class_folders
from dvml_tf.data.images import decode_image
from dvml_tf.data.splits import ARRAY, ImageSplit
from dvml_tf.errors import UserError, settings_named_as_flags
from dvml_tf.evaluation import metrics as evaluation
from dvml_tf.models.backbones import build_backbone
from dvml_tf.serving import client as serving_client
from dvml_tf.serving import index
from dvml_tf.training.checkpoints import RUN_CONFIG_FILE
from dvml_tf.training.model_dir_lock import holding_model_dir
from dvml_tf.training.run import run_modes, with_proxy_table

TINY_DIGITS = ["--dataset=digits", "--backbone=small_cnn", "--image_size=16",
               "--resize_size=18", "--embedding_dim=8", "--decoder_hidden=8", "--num_samples=2",
               "--classes_per_batch=2", "--images_per_class=2", "--train_steps=2", "--nofigures",
               "--checkpoint_every=2", "--recall_k=1"]


def snapshot(root):
    """{relative path: sha256} of every file under root (folders included as None)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            found[os.path.relpath(os.path.join(folder, name), root)] = None
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return found


def one_line_error(function, *args, **kwargs):
    """The message of the UserError `function` raises as a command would report it
    (settings named as flags); it must be one line."""
    with pytest.raises(UserError) as raised, settings_named_as_flags():
        function(*args, **kwargs)
    message = str(raised.value)
    assert "\n" not in message, message
    return message


def config_of(*argv):
    return parse_config(argv)


def _png(path, colour=(200, 30, 30), size=(12, 10)):
    Image.new("RGB", size, colour).save(path)


@pytest.fixture
def gallery(tmp_path):
    root = tmp_path / "gallery"
    root.mkdir()
    for i in range(3):
        _png(root / f"{i}.png", (60 * i, 20, 20))
    return root


# Data loss: the index --------------------------------------------------------------------

def test_index_into_the_gallery_itself_is_refused_and_the_gallery_kept(gallery):
    before = snapshot(gallery)
    message = one_line_error(index.build_index, "no/export", str(gallery), str(gallery))
    assert f"--index={gallery}" in message and "not a dvml_tf index" in message
    assert snapshot(gallery) == before


def test_index_into_any_other_folder_of_the_user_is_refused(gallery, tmp_path):
    documents = tmp_path / "documents"
    (documents / "sub").mkdir(parents=True)
    (documents / "sub" / "thesis.txt").write_text("years of work")
    before = snapshot(documents)
    message = one_line_error(index.build_index, "no/export", str(gallery), str(documents))
    assert "not a dvml_tf index" in message
    assert snapshot(documents) == before


def test_index_onto_an_existing_file_is_refused(gallery, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    message = one_line_error(index.build_index, "no/export", str(gallery), str(target))
    assert f"--index={target}: is a file" in message
    assert target.read_text() == "keep me"


def test_index_replaces_its_own_index_file_atomically(tmp_path):
    from dvml_tf.retrieval import RetrievalIndex

    folder = tmp_path / "index"
    index.check_index_folder(str(folder))
    index.claim_index_folder(str(folder))
    first = RetrievalIndex(np.eye(2), ["a.png", "b.png"], {"export": "export/1"})
    index.write_index_file(str(folder), first)
    index.check_index_folder(str(folder))  # its own folder (marker): may be rebuilt
    second = RetrievalIndex(np.eye(3), ["a.png", "b.png", "c.png"], {"export": "export/2"})
    index.write_index_file(str(folder), second)
    stored, export = index.read_index(str(folder))
    assert len(stored) == 3 and stored.names[2] == "c.png" and export == "export/2"
    assert sorted(os.listdir(folder)) == [index.MARKER_FILE, index.INDEX_FILE]


def test_export_folder_with_an_empty_version_uses_the_newest_complete_one(tmp_path):
    model = tmp_path / "dvml_x"
    (model / "1").mkdir(parents=True)
    (model / "1" / "saved_model.pb").write_bytes(b"")
    (model / "2").mkdir()  # a version being copied in, or left empty
    assert index.resolve_export(str(model)) == str(model / "1")
    (model / "1" / "saved_model.pb").unlink()
    message = one_line_error(index.resolve_export, str(model))
    assert f"--export={model}" in message


def test_export_that_is_not_a_savedmodel_is_one_line(tmp_path):
    version = tmp_path / "dvml_x" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"not a protobuf")
    message = one_line_error(index.export_embedder, str(tmp_path / "dvml_x"))
    assert str(version) in message and "not a dvml_tf export" in message


def test_index_command_prints_no_tensorflow_banner_before_its_error(tmp_path, gallery):
    target = tmp_path / "a_file"
    target.write_text("")
    result = subprocess.run([sys.executable, "-m", "dvml_tf.cli.index", "build",
                             f"--images={gallery}", f"--index={target}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --index={target}: is a file, not an index folder"]


@pytest.mark.parametrize("size", ["0", "-1"])
def test_index_batch_size_below_one_is_one_line_naming_it(tmp_path, gallery, size):
    result = subprocess.run([sys.executable, "-m", "dvml_tf.cli.index", "build",
                             f"--images={gallery}", f"--index={tmp_path / 'index'}",
                             "--export=no/export", f"--batch_size={size}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --batch_size={size} must be positive"]
    assert not (tmp_path / "index").exists()


# Data loss: the run folder ---------------------------------------------------------------

@pytest.fixture
def trained_run_dir(tmp_path):
    """A --model_dir as a training run leaves it: run_config.json and a checkpoint."""
    config = config_of(*TINY_DIGITS, f"--model_dir={tmp_path / 'run'}", "--export_dir=")
    run_modes(config)
    return tmp_path / "run"


@pytest.mark.parametrize("content", ['{"dataset": "dig', "[1, 2]", ""])
def test_a_truncated_or_edited_run_config_is_one_line_naming_it(trained_run_dir, content):
    run_config = trained_run_dir / RUN_CONFIG_FILE
    run_config.write_text(content)
    before = snapshot(trained_run_dir)
    for mode in ("train", "eval", "export"):
        config = config_of(*TINY_DIGITS, f"--model_dir={trained_run_dir}", f"--mode={mode}",
                           "--train_steps=4")
        message = one_line_error(run_modes, config)
        assert message.startswith(f"{run_config}: not a readable run_config.json ("), message
    assert snapshot(trained_run_dir) == before


def test_a_checkpoint_of_non_finite_weights_is_not_resumed_evaluated_or_exported(
        trained_run_dir, tmp_path):
    """A NaN checkpoint (written by hand: training itself never writes one) is refused."""
    from dvml_tf.training.build import build_model
    from dvml_tf.training.checkpoints import checkpoint_manager, load_run_config, restore_latest

    model = build_model(load_run_config(str(trained_run_dir)))  # with its optimizer
    restore_latest(checkpoint_manager(model, str(trained_run_dir)))
    model.encoder.get_layer("z_invariant").kernel.assign(
        np.full(model.encoder.get_layer("z_invariant").kernel.shape, np.inf, np.float32))
    model.steps_taken.assign(3)
    checkpoint_manager(model, str(trained_run_dir)).save(checkpoint_number=3)
    before = snapshot(trained_run_dir)
    export_dir = tmp_path / "export"
    for mode in ("train", "eval", "export"):
        config = config_of(*TINY_DIGITS, "--train_steps=5", f"--model_dir={trained_run_dir}",
                           f"--export_dir={export_dir}", f"--mode={mode}")
        message = one_line_error(run_modes, config)
        assert message.endswith("ckpt-3: 1 weights hold NaN or infinite values (e.g. "
                                "z_invariant/kernel); it cannot be resumed, evaluated or "
                                "exported"), message
    assert snapshot(trained_run_dir) == before
    assert not export_dir.exists() or not any(export_dir.rglob("saved_model.pb"))


def test_an_export_that_answers_a_probe_with_nan_is_not_published(tmp_path):
    import tensorflow as tf

    from dvml_tf.serving.export import check_serves

    class Broken(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serve(self, image_bytes):
            return {"embeddings": tf.fill([tf.shape(image_bytes)[0], 4], float("nan"))}

    module = Broken()
    tf.saved_model.save(module, str(tmp_path / "broken"),
                        signatures={"serving_default": module.serve})
    message = one_line_error(check_serves, str(tmp_path / "broken"), 16, 4)
    assert message.startswith("the export answers a probe image with [nan nan nan nan]")
    assert message.endswith("not one finite unit embedding of 4; nothing published")


def test_visualize_without_a_run_or_a_checkpoint_is_one_line(tmp_path):
    from dvml_tf.cli.visualize import visualize
    from dvml_tf.training.checkpoints import save_run_config

    message = one_line_error(visualize, str(tmp_path / "none"))
    assert message.endswith("no trained run found (run_config.json is missing); train first")
    save_run_config(config_of(*TINY_DIGITS, f"--model_dir={tmp_path / 'bare'}"))
    assert one_line_error(visualize, str(tmp_path / "bare")).endswith(
        "no checkpoint to load; train first")


def test_a_truncated_checkpoint_is_one_line_for_every_reader(trained_run_dir):
    from dvml_tf.cli.visualize import visualize

    data = next((trained_run_dir / "checkpoints").glob("ckpt-*.data-*"))
    data.write_bytes(data.read_bytes()[:1000])
    before = snapshot(trained_run_dir)
    prefix = str(data).split(".data-")[0]
    expected = (f"{prefix}: damaged or cut short (Read less bytes than requested); it "
                "cannot be loaded")
    assert one_line_error(visualize, str(trained_run_dir)) == expected
    for mode in ("train", "eval"):
        config = config_of(*TINY_DIGITS, f"--model_dir={trained_run_dir}", f"--mode={mode}",
                           "--train_steps=6")
        assert one_line_error(run_modes, config) == expected
    assert snapshot(trained_run_dir) == before


@pytest.mark.parametrize("blocked", ["figures", "logs/figures"])
def test_visualize_into_a_folder_it_cannot_write_is_one_line(trained_run_dir, blocked):
    from dvml_tf.cli.visualize import visualize

    (trained_run_dir / blocked).parent.mkdir(exist_ok=True)
    (trained_run_dir / blocked).write_text("mine")
    message = one_line_error(visualize, str(trained_run_dir), max_images=40)
    assert message.startswith(f"--model_dir={trained_run_dir}: cannot write the figures there (")
    assert (trained_run_dir / blocked).read_text() == "mine"


def test_rerun_with_other_architecture_is_refused_before_writing(trained_run_dir):
    before = snapshot(trained_run_dir)
    # GoogLeNet takes 32 px at least: the command line refuses less before it looks.
    for flag, *sizes in (("--embedding_dim=16",), ("--image_size=12",),
                         ("--backbone=googlenet", "--image_size=32", "--resize_size=32")):
        config = config_of(*TINY_DIGITS, f"--model_dir={trained_run_dir}", flag, *sizes)
        message = one_line_error(run_modes, config)
        assert message.startswith(f"{flag}: --model_dir={trained_run_dir} holds a run trained")
        assert snapshot(trained_run_dir) == before
    # The intact run still evaluates.
    metrics = run_modes(config_of(f"--model_dir={trained_run_dir}", "--mode=eval",
                                       "--recall_k=1"))
    assert metrics["step"] == 2


def test_checkpoint_that_does_not_restore_is_one_line(trained_run_dir):
    """A run_config.json edited by hand no longer matches its checkpoint."""
    run_config = trained_run_dir / RUN_CONFIG_FILE
    saved = json.loads(run_config.read_text())
    run_config.write_text(json.dumps(dict(saved, embedding_dim=16)))
    before = snapshot(trained_run_dir)
    config = config_of(*TINY_DIGITS, f"--model_dir={trained_run_dir}", "--embedding_dim=16")
    message = one_line_error(run_modes, config)
    assert "does not match this model" in message
    assert snapshot(trained_run_dir) == before


def test_a_run_of_dvml_tf_0_1_is_named_and_left_alone(trained_run_dir):
    """Runs of dvml_tf 0.1 (Keras 2) wrote no checkpoint_format."""
    run_config = trained_run_dir / RUN_CONFIG_FILE
    saved = json.loads(run_config.read_text())
    del saved["checkpoint_format"]
    run_config.write_text(json.dumps(saved))
    before = snapshot(trained_run_dir)
    for mode in ("eval", "export", "train_and_eval"):
        config = config_of(*TINY_DIGITS, f"--model_dir={trained_run_dir}", f"--mode={mode}")
        message = one_line_error(run_modes, config)
        assert message == (f"--model_dir={trained_run_dir}: a run of dvml_tf 0.1 (Keras 2), "
                           "which this dvml_tf (Keras 3) cannot load; train it again, or use "
                           "dvml_tf 0.1")
    assert snapshot(trained_run_dir) == before


def test_second_run_on_a_locked_model_dir_is_refused(tmp_path):
    model_dir = tmp_path / "run"
    with holding_model_dir(str(model_dir)):
        before = snapshot(model_dir)
        message = one_line_error(
            run_modes, config_of(*TINY_DIGITS, f"--model_dir={model_dir}"))
        assert f"--model_dir={model_dir}: another run (pid {os.getpid()})" in message
        assert snapshot(model_dir) == before


def test_lock_of_another_process_is_refused_and_freed_when_it_is_killed(tmp_path):
    model_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from dvml_tf.training.model_dir_lock import holding_model_dir\n"
         f"with holding_model_dir({str(model_dir)!r}):\n"
         "    print('held', flush=True)\n    time.sleep(300)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=f"another run \\(pid {holder.pid}\\)"):
            with holding_model_dir(str(model_dir)):
                pass
    finally:
        holder.kill()  # SIGKILL: no cleanup runs in the holder
        holder.wait()
    with holding_model_dir(str(model_dir)):
        pass


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".hidden", ""])
def test_model_name_outside_export_dir_is_refused(name):
    with pytest.raises(UserError, match="--model_name="):
        config_of(*TINY_DIGITS, f"--model_name={name}" if name else "--model_name=/abs")


# Out of space ----------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A real file system that fills up: a tmpfs mounted for the test (needs root)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()

    def mount(size):
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                 str(mount_point)], capture_output=True)
        if result.returncode:
            pytest.skip("mounting a small tmpfs needs root")
        return mount_point

    yield mount
    # Lazily: a file the failed run left open would keep a plain umount busy, and the
    # tmpfs mounted after the test.
    subprocess.run(["umount", "--lazy", str(mount_point)], capture_output=True)


def _fill(folder):
    """Writes a file into `folder` until its disk is full."""
    with open(os.path.join(folder, "filler"), "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_full_disk_during_checkpoint_is_one_line_and_leaves_no_partial_checkpoint(small_disk):
    disk = small_disk("600k")
    model_dir = disk / "run"
    message = one_line_error(run_modes,
                             config_of(*TINY_DIGITS, f"--model_dir={model_dir}", "--export_dir="))
    assert message.startswith(f"--model_dir={model_dir}: no space left on the device")
    checkpoints = model_dir / "checkpoints"
    assert not [p for p in os.listdir(checkpoints) if "_temp" in p]


def test_full_disk_during_evaluation_keeps_the_run(trained_run_dir, small_disk):
    disk = small_disk("64m")
    subprocess.run(["cp", "-a", str(trained_run_dir), str(disk / "run")], check=True)
    (disk / "run" / "metrics.json").unlink()
    _fill(disk)
    before = snapshot(disk / "run")
    message = one_line_error(run_modes,
                             config_of(f"--model_dir={disk / 'run'}", "--mode=eval",
                                       "--recall_k=1"))
    assert "no space left on the device" in message
    after = snapshot(disk / "run")
    assert {k: v for k, v in after.items() if k in before} == before
    assert not [p for p in after if ".tmp" in p]


def test_full_disk_during_export_leaves_no_partial_version(trained_run_dir, small_disk):
    disk = small_disk("300k")
    message = one_line_error(run_modes,
                             config_of(f"--model_dir={trained_run_dir}", "--mode=export",
                                       f"--export_dir={disk}"))
    assert message.startswith(f"--export_dir={disk}: no space left on the device")
    assert os.listdir(disk / "dvml_digits") == []


# Backbone flags --------------------------------------------------------------------------

def test_image_size_below_the_backbone_minimum_is_one_line():
    message = one_line_error(build_backbone, "small_cnn", 7)
    assert message.startswith("--image_size=7 is too small for --backbone=small_cnn")


def test_backbone_weights_that_are_not_a_weights_file_is_one_line(tmp_path):
    weights = tmp_path / "weights.h5"
    weights.write_text("not HDF5")
    message = one_line_error(build_backbone, "small_cnn", 16, str(weights))
    assert message.startswith(f"--backbone_weights={weights}: not a weights file")


@pytest.mark.parametrize("loss", ["proxy_nca", "proxy_anchor"])
def test_proxy_table_smaller_than_the_training_labels_is_one_line(loss):
    split = ImageSplit(np.zeros((3, 2, 2, 3), np.uint8), [0, 5, 9], ARRAY)
    small = config_of(f"--metric_loss={loss}", "--num_proxies=5")
    message = one_line_error(with_proxy_table, small, split)
    assert message.startswith("--num_proxies=5: the training labels go up to 9")
    assert with_proxy_table(config_of(f"--metric_loss={loss}"), split).loss.num_proxies == 10


# The image folder ------------------------------------------------------------------------

@pytest.fixture
def class_folders(tmp_path):
    root = tmp_path / "images"
    for c in range(4):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(2):
            _png(root / f"class{c}" / f"{i}.png", (50 * c, 10 * i, 0))
    return root


def test_file_name_that_is_not_utf8_is_a_counted_skip(class_folders, caplog):
    bad = os.path.join(os.fsencode(class_folders / "class0"), b"caf\xe9.png")
    with open(bad, "wb") as f:
        f.write((class_folders / "class0" / "0.png").read_bytes())
    with caplog.at_level(logging.WARNING):
        train, test = load_folder_splits(str(class_folders))
    assert len(train) + len(test) == 8
    assert "skipped 1 files or folders whose names are not UTF-8" in caplog.text


def _bmp(path, mode):
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (6, 5, 3), np.uint8))
    image = {"1": rgb.convert("1"), "P": rgb.quantize(16), "RGB": rgb}[mode]
    image.save(path, format="BMP")


@pytest.mark.parametrize("mode", ["1", "P"])
def test_bmp_tensorflow_cannot_decode_exactly_is_a_counted_skip(class_folders, caplog, mode):
    """A 1-bit BMP does not decode in TensorFlow; a palette BMP decodes as its indices."""
    _bmp(class_folders / "class3" / "odd.bmp", mode)
    _bmp(class_folders / "class3" / "true_colour.bmp", "RGB")
    with caplog.at_level(logging.WARNING):
        classes = scan_class_folders(str(class_folders))
    assert str(class_folders / "class3" / "odd.bmp") not in classes["class3"]
    assert "skipped 1 files that are not images TensorFlow decodes exactly" in caplog.text
    for path in classes["class3"]:  # what passed the scan decodes with training's decoder
        with open(path, "rb") as f:
            assert decode_image(f.read()).numpy().shape[-1] == 3


def test_class_folder_linking_outside_data_dir_is_a_counted_skip(class_folders, tmp_path,
                                                                  caplog):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    _png(outside / "private.png")
    _png(outside / "private2.png")
    (class_folders / "class9").symlink_to(outside, target_is_directory=True)
    (class_folders / "class0" / "linked.png").symlink_to(outside / "private.png")
    with caplog.at_level(logging.WARNING):
        classes = scan_class_folders(str(class_folders))
    assert "class9" not in classes
    assert all(str(outside) not in p for paths in classes.values() for p in paths)
    assert "skipped 2 files or folders whose names are not UTF-8 or that link outside" \
        in caplog.text


# evaluate --------------------------------------------------------------------------------

def _write(path, array=None, raw=None):
    if raw is not None:
        path.write_bytes(raw)
    else:
        with open(path, "wb") as f:
            np.save(f, array)
    return str(path)


def _npz_bytes():
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros(3))
    return buffer.getvalue()


@pytest.mark.parametrize("case,raw,expected", [
    ("zero_byte", b"", "cannot read a .npy array"),
    ("npz_renamed", _npz_bytes(), "an .npz archive, not a .npy array"),
])
def test_evaluate_unreadable_npy_is_one_line(tmp_path, case, raw, expected):
    path = _write(tmp_path / f"{case}.npy", raw=raw)
    message = one_line_error(evaluate.load_array, "embeddings", path)
    assert message.startswith(f"--embeddings={path}: {expected}")


GOOD_LABELS = np.array([0, 0, 1, 1])


@pytest.mark.parametrize("case,embeddings,labels,expected", [
    ("strings", np.array([["a", "b"]] * 4), GOOD_LABELS, "must be real numbers"),
    ("complex", np.ones((4, 2), np.complex64), GOOD_LABELS, "must be real numbers"),
    ("zero_width", np.ones((4, 0), np.float32), GOOD_LABELS, "with D >= 1"),
    ("nan_labels", np.eye(4, dtype=np.float32), np.array([0, 0, np.nan, np.nan]), "with NaN"),
    ("all_unique", np.eye(4, dtype=np.float32), np.arange(4), "every label is unique"),
])
def test_evaluate_inputs_no_metric_is_right_for_are_one_line(case, embeddings, labels,
                                                             expected):
    message = one_line_error(evaluation.evaluate_embeddings, embeddings, labels, (1,))
    assert expected in message


def test_evaluate_huge_finite_embeddings_are_normalised_not_zeroed():
    embeddings = np.array([[1e30, 0], [1e30, 1e28], [0, 1e30], [1e28, 1e30]], np.float32)
    metrics = evaluation.evaluate_embeddings(embeddings, GOOD_LABELS, (1,))
    assert metrics["recall@1"] == 1.0 and metrics["map@r"] == 1.0


# serving_client --------------------------------------------------------------------------

# What TF Serving answers for bytes that are no image: TensorFlow's message, over lines.
TF_DECODE_ERROR = ("Unknown image file format. One of JPEG, PNG, GIF, BMP required.\n\t "
                   "[[{{function_node __inference_serve_images_4150}}{{node DecodeImage}}]]")


class _StandIn(http.server.BaseHTTPRequestHandler):
    """A loopback server: answers HTML, or TF Serving's JSON rejecting b"bad" images. Its
    models, as TF Serving answers for them: "m" (one output), "named" (named outputs, the
    embeddings among them), "classifier" (named outputs, no embeddings); others: 404."""

    html = False

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        images = [i["b64"] for i in body["instances"]]
        model = self.path.split("/v1/models/", 1)[1].split(":", 1)[0]
        if self.html:
            code, reply = 502, b"<html><body>Bad Gateway</body></html>"
        elif model not in ("m", "named", "classifier"):
            code, reply = 404, json.dumps(
                {"error": f"Servable not found for request: Latest({model})"}).encode()
        elif "YmFk" in images:  # base64 of b"bad"
            code, reply = 400, json.dumps({"error": TF_DECODE_ERROR}).encode()
        else:
            row = {"m": [1.0, 0.0], "named": {"embeddings": [1.0, 0.0], "norm": 1.0},
                   "classifier": {"scores": [0.1, 0.9], "classes": 1}}[model]
            code, reply = 200, json.dumps({"predictions": [row] * len(images)}).encode()
        self.send_response(code)
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def stand_in():
    server = http.server.HTTPServer(("127.0.0.1", 0), _StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    _StandIn.html = False


def test_serving_client_against_a_server_answering_html_is_one_line(stand_in):
    _StandIn.html = True
    message = one_line_error(serving_client.predict_rest, stand_in, "m", [b"good"])
    assert message.startswith(f"--server={stand_in}: the answer is not TensorFlow Serving's")


def test_serving_client_reads_named_outputs_and_refuses_a_model_without_embeddings(stand_in):
    embeddings = serving_client.predict_rest(stand_in, "named", [b"good", b"good"])
    np.testing.assert_array_equal(embeddings, [[1.0, 0.0], [1.0, 0.0]])
    message = one_line_error(serving_client.predict_rest, stand_in, "classifier", [b"good"])
    assert message == ("--model_name=classifier: the model answers with classes, scores, not "
                       "embeddings: not a dvml_tf export")


def test_serving_client_blames_a_wrong_model_name_not_the_images(stand_in, tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(b"good")
    result = subprocess.run(
        [sys.executable, "-m", "dvml_tf.cli.serving_client", f"--server={stand_in}",
         "--model_name=nope", str(image)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: --model_name=nope: {stand_in} serves no such "
                                     "model (Servable not found for request: Latest(nope))")


def test_serving_client_names_the_rejected_image_and_keeps_the_others(stand_in):
    predict = lambda images: serving_client.predict_rest(stand_in, "m", images)  # noqa: E731
    embedded, rejected = serving_client.predict_each(
        predict, ["a.png", "b.png", "c.png"], [b"good", b"bad", b"good"])
    assert sorted(embedded) == ["a.png", "c.png"]
    assert rejected == {"b.png": "Unknown image file format. One of JPEG, PNG, GIF, BMP required."}


def test_serving_client_command_answers_good_images_and_names_a_bad_one_in_one_line(
        stand_in, tmp_path):
    (tmp_path / "a.png").write_bytes(b"good")
    (tmp_path / "b.txt").write_bytes(b"bad")
    result = subprocess.run(
        [sys.executable, "-m", "dvml_tf.cli.serving_client", f"--server={stand_in}",
         "--model_name=m", str(tmp_path / "a.png"), str(tmp_path / "b.txt")],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert [json.loads(line)["image"] for line in result.stdout.splitlines()] == [
        str(tmp_path / "a.png")]
    assert result.stderr == (f"error: {tmp_path / 'b.txt'}: the model server rejected it "
                             "(Unknown image file format. One of JPEG, PNG, GIF, BMP "
                             "required.)\n")
