"""Exports as TF Serving loads them, the serving client, and the retrieval index."""
import base64
import http.server
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from commands import ROOT, main_command, run_main
from PIL import Image

from dvml_tf.data.images import decode_image
from dvml_tf.data.preprocessing import eval_preprocess
from dvml_tf.serving import client as serving_client
from dvml_tf.training.checkpoints import load_trained_model

pytestmark = pytest.mark.slow
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A briefly trained digits model (its quality does not matter here) and one export."""
    base = tmp_path_factory.mktemp("deploy")
    flags = ["--dataset=digits", f"--model_dir={base / 'run'}",
             f"--export_dir={base / 'export'}", "--train_steps=20", "--mode=train"]
    result = run_main(*flags)
    assert result.returncode == 0, result.stderr[-2000:]
    result = run_main(*flags[:-1], "--mode=export")
    assert result.returncode == 0, result.stderr[-2000:]
    return base, flags[:-1]


def _encode(pixels, fmt, mode):
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """Real digits as images: 3 per class 5-9, in JPEG/PNG, grayscale/RGB/RGBA, 8 to 40 px."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = tmp_path_factory.mktemp("gallery")
    formats = [("PNG", "L"), ("JPEG", "RGB"), ("PNG", "RGBA")]
    paths = []
    for label in range(5, 10):
        for i, index in enumerate(np.flatnonzero(digits.target == label)[:3]):
            pixels = np.round(digits.images[index] * 255 / 16).astype(np.uint8)
            size = 8 * (i + 1) + 16 * (label % 2)
            pixels = np.array(Image.fromarray(pixels).resize((size, size)))
            fmt, mode = formats[i]
            path = root / str(label) / f"{i}.{fmt.lower()}"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(_encode(pixels, fmt, mode))
            paths.append(str(path))
    return root, paths


def _export(base, version=1):
    return str(base / "export" / "dvml_digits" / str(version))


def test_saved_model_cli_shows_both_signatures(run_dir):
    base, _ = run_dir
    shown = subprocess.run([SAVED_MODEL_CLI, "show", "--dir", _export(base), "--all"],
                           capture_output=True, text=True, check=True).stdout
    default = shown.split("signature_def['serving_default']")[1].split("signature_def[")[0]
    assert "inputs['image_bytes'] tensor_info:" in default
    assert "dtype: DT_STRING" in default and "shape: (-1)" in default
    assert "outputs['embeddings'] tensor_info:" in default and "shape: (-1, 128)" in default
    images = shown.split("signature_def['serve_images']")[1].split("signature_def[")[0]
    assert "inputs['images'] tensor_info:" in images and "shape: (-1, -1, -1, 3)" in images


def test_export_served_by_a_new_process_equals_the_trained_model(run_dir, gallery, tmp_path):
    base, _ = run_dir
    encoded = [open(p, "rb").read() for p in gallery[1] if p.endswith(".jpeg")]
    np.save(tmp_path / "in.npy", np.array(encoded, dtype="S"))
    subprocess.run([SAVED_MODEL_CLI, "run", "--dir", _export(base), "--tag_set", "serve",
                    "--signature_def", "serving_default",
                    "--inputs", f"image_bytes={tmp_path / 'in.npy'}",
                    "--outdir", str(tmp_path / "out")], check=True, capture_output=True)
    served = np.load(tmp_path / "out" / "embeddings.npy")
    assert served.shape == (len(encoded), 128)
    np.testing.assert_allclose(np.linalg.norm(served, axis=1), 1.0, rtol=1e-5)
    # The export was made from the run's last checkpoint.
    model, config = load_trained_model(str(base / "run"))
    sizes = config.data
    images = tf.stack([eval_preprocess(decode_image(data), sizes.resize_size, sizes.image_size)
                       for data in encoded])
    np.testing.assert_allclose(served, model.embed(images).numpy(), atol=1e-5)


def test_signatures_agree_and_metadata_is_readable(run_dir, gallery):
    base, _ = run_dir
    loaded = tf.saved_model.load(_export(base))
    encoded = [open(p, "rb").read() for p in gallery[1][:3]]
    from_bytes = loaded.signatures["serving_default"](image_bytes=tf.constant(encoded))
    pixels = tf.cast(tf.io.decode_image(encoded[1], channels=3), tf.float32)[tf.newaxis]
    from_pixels = loaded.signatures["serve_images"](images=pixels)
    np.testing.assert_allclose(from_bytes["embeddings"][1], from_pixels["embeddings"][0],
                               atol=1e-5)
    metadata = json.load(open(os.path.join(_export(base), "assets.extra", "dvml_config.json")))
    assert metadata["embedding_dim"] == 128 and metadata["backbone"] == "small_cnn"
    assert metadata["training_flags"]["metric_loss"] == "triplet_semihard"
    # Serving needs the backbone and encoder only: no decoder, no optimizer slots.
    saved = {tuple(shape) for _, shape in tf.train.list_variables(
        os.path.join(_export(base), "variables", "variables"))}
    model, _ = load_trained_model(str(base / "run"))
    assert {tuple(v.shape) for v in model.encoder.variables} <= saved
    assert not {tuple(v.shape) for v in model.decoder.variables if len(v.shape) == 2} & saved


@pytest.mark.parametrize("payload", [b"not an image at all", b""])
def test_undecodable_bytes_name_the_decode(run_dir, payload):
    base, _ = run_dir
    serve = tf.saved_model.load(_export(base)).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="(?i)image"):
        serve(image_bytes=tf.constant([payload]))


def test_exports_get_increasing_versions_and_a_killed_one_stays_hidden(run_dir, tmp_path):
    base, _ = run_dir
    # Copies of the run and its export, the run trained on: other weights than version 1's.
    export_root = tmp_path / "export" / "dvml_digits"
    shutil.copytree(base / "export" / "dvml_digits" / "1", export_root / "1")
    shutil.copytree(base / "run", tmp_path / "run")
    flags = ["--dataset=digits", f"--model_dir={tmp_path / 'run'}",
             f"--export_dir={tmp_path / 'export'}", "--train_steps=24"]
    trained = run_main(*flags, "--mode=train")
    assert trained.returncode == 0, trained.stderr[-2000:]
    process = subprocess.Popen(main_command(*flags, "--mode=export"), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.startswith(".partial")
                                              for p in export_root.iterdir()):
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert sorted(p.name for p in export_root.iterdir() if not p.name.startswith(".")) == ["1"]
    killed = [p.name for p in export_root.iterdir() if p.name.startswith(".partial")]
    assert len(killed) == 1
    # The next export removes what the killed one left, and nothing else: not a folder of
    # the user's, not the partial of an export still running (this process's pid).
    kept = [".partial-notes", f".partial-{os.getpid()}-{'0' * 32}"]
    for name in kept:
        (export_root / name).mkdir()
    result = run_main(*flags, "--mode=export")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"exported SavedModel to {export_root / '2'}"
    assert sorted(p.name for p in export_root.iterdir() if not p.name.startswith(".")) == [
        "1", "2"]
    assert (export_root / "2" / "saved_model.pb").exists()
    assert sorted(p.name for p in export_root.iterdir() if p.name.startswith(".")) == sorted(kept)
    # Exporting the same weights again writes nothing, and says so.
    again = run_main(*flags, "--mode=export")
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.strip() == (f"{export_root / '2'} already serves these weights "
                                    "(step 24); nothing exported")
    assert sorted(p.name for p in export_root.iterdir() if not p.name.startswith(".")) == [
        "1", "2"]


def test_export_errors_are_one_line(run_dir, tmp_path):
    base, flags = run_dir
    no_run = run_main(f"--model_dir={tmp_path / 'none'}", "--mode=export")
    assert no_run.returncode == 2
    assert no_run.stderr.strip().splitlines()[-1].startswith("error: --model_dir=")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root ignores permissions: use a file as the parent
        locked = tmp_path / "a_file"
        locked.write_text("")
    bad = run_main(*flags, f"--export_dir={locked / 'exports'}", "--mode=export")
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "--export_dir=" in bad.stderr


def test_index_returns_each_query_image_first(run_dir, gallery, tmp_path):
    base, _ = run_dir
    root, paths = gallery
    (root / "5" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 50)
    index = tmp_path / "index"
    build = subprocess.run([sys.executable, "-m", "dvml_tf.cli.index", "build",
                            f"--export={base / 'export' / 'dvml_digits'}", f"--images={root}",
                            f"--index={index}"], cwd=ROOT, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    assert f"indexed {len(paths)} images" in build.stdout
    warning, = build.stderr.strip().splitlines()  # in the package's own format, naming it
    corrupt = re.escape(str(root / "5" / "corrupt.jpg"))
    assert re.fullmatch(r"\d\d:\d\d:\d\d warning: skipped 1 files that are not images "
                        rf"TensorFlow decodes exactly: {corrupt}", warning), warning
    queries = paths[::4]
    text, missing = tmp_path / "notes.jpg", tmp_path / "gone.png"
    text.write_text("not an image")
    query = subprocess.run([sys.executable, "-m", "dvml_tf.cli.index", "query",
                            f"--index={index}", "--k=3", str(text), *queries, str(missing)],
                           cwd=ROOT, capture_output=True, text=True)
    # Every good image is answered, each bad one named; the status says some were answered.
    assert query.returncode == 0, query.stderr[-2000:]
    assert query.stderr.splitlines() == [
        f"error: {text}: not an image TensorFlow decodes",
        f"error: {missing}: cannot read (No such file or directory)"]
    none = subprocess.run([sys.executable, "-m", "dvml_tf.cli.index", "query",
                           f"--index={index}", str(text)], cwd=ROOT, capture_output=True,
                          text=True)
    assert none.returncode == 2 and none.stdout == ""
    results = [json.loads(line) for line in query.stdout.splitlines()]
    assert [r["query"] for r in results] == queries
    for result in results:
        first = result["neighbors"][0]
        assert first["image"] == os.path.abspath(result["query"])
        assert first["distance"] == pytest.approx(0.0, abs=1e-3)
        assert len(result["neighbors"]) == 3


class _ServingStandIn(http.server.BaseHTTPRequestHandler):
    """Answers TF Serving's REST predict call with the real SavedModel (loopback only)."""

    serve = None

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        encoded = [base64.b64decode(instance["b64"]) for instance in body["instances"]]
        try:
            out = self.serve(image_bytes=tf.constant(encoded))["embeddings"].numpy()
            code, reply = 200, {"predictions": out.tolist()}
        except tf.errors.InvalidArgumentError as error:
            code, reply = 400, {"error": error.message}
        self.send_response(code)
        self.end_headers()
        self.wfile.write(json.dumps(reply).encode())

    def log_message(self, *args):
        pass


def test_rest_client_round_trip(run_dir, gallery):
    base, _ = run_dir
    _ServingStandIn.serve = tf.saved_model.load(_export(base)).signatures["serving_default"]
    server = http.server.HTTPServer(("127.0.0.1", 0), _ServingStandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        encoded = serving_client.read_images(gallery[1][:4])
        assert serving_client.rest_request(encoded)["instances"][0]["b64"] == \
            base64.b64encode(encoded[0]).decode()
        embeddings = serving_client.predict_rest(url, "dvml_digits", encoded)
        direct = _ServingStandIn.serve(image_bytes=tf.constant(encoded))["embeddings"].numpy()
        np.testing.assert_allclose(embeddings, direct, atol=1e-6)
        with pytest.raises(serving_client.ServerRejected, match="(?i)image"):
            serving_client.predict_rest(url, "dvml_digits", [b"garbage"])
    finally:
        server.shutdown()


def test_grpc_client_round_trip(run_dir, gallery):
    grpc = pytest.importorskip("grpc")
    apis = pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2_grpc")
    from concurrent import futures

    from tensorflow_serving.apis import predict_pb2

    base, _ = run_dir
    serve = tf.saved_model.load(_export(base)).signatures["serving_default"]

    class Servicer(apis.PredictionServiceServicer):
        """TF Serving's Predict over the real SavedModel (loopback only)."""

        def Predict(self, request, context):
            assert request.model_spec.signature_name == "serving_default"
            encoded = tf.make_ndarray(request.inputs["image_bytes"])
            out = serve(image_bytes=tf.constant(list(encoded)))["embeddings"].numpy()
            response = predict_pb2.PredictResponse()
            response.outputs["embeddings"].CopyFrom(tf.make_tensor_proto(out))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    apis.add_PredictionServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        encoded = serving_client.read_images(gallery[1][:3])
        embeddings = serving_client.predict_grpc(f"127.0.0.1:{port}", "dvml_digits", encoded)
        direct = serve(image_bytes=tf.constant(encoded))["embeddings"].numpy()
        np.testing.assert_allclose(embeddings, direct, atol=1e-6)
    finally:
        server.stop(None)


def test_embed_command_feeds_evaluate_and_agrees_with_the_python_api(run_dir, gallery,
                                                                      tmp_path):
    base, _ = run_dir
    command = [sys.executable, "-m", "dvml_tf.cli.embed"]
    done = subprocess.run([*command, f"--model={base / 'export' / 'dvml_digits'}",
                           f"--images={gallery[0]}", f"--out={tmp_path / 'g'}"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    embeddings = np.load(tmp_path / "g" / "embeddings.npy")
    labels = np.load(tmp_path / "g" / "labels.npy")
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert (tmp_path / "g" / "classes.txt").read_text().split() == ["5", "6", "7", "8", "9"]
    import dvml_tf

    from_run = dvml_tf.load(str(base / "run"))
    np.testing.assert_allclose(embeddings, from_run.embed(sorted(gallery[1])), atol=1e-5)
    encoded = [open(path, "rb").read() for path in sorted(gallery[1])]
    np.testing.assert_allclose(embeddings, from_run.embed(encoded), atol=1e-5)
    # The run's own test split, embedded and evaluated, equals the same in Python.
    done = subprocess.run([*command, f"--model={base / 'run'}", "--split=test",
                           f"--out={tmp_path / 't'}"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    evaluated = subprocess.run([sys.executable, "-m", "dvml_tf.cli.evaluate",
                                f"--embeddings={tmp_path / 't' / 'embeddings.npy'}",
                                f"--labels={tmp_path / 't' / 'labels.npy'}", "--noclustering"],
                               capture_output=True, text=True, timeout=300)
    metrics = json.loads(evaluated.stdout)
    _, test = dvml_tf.load_dataset("digits")
    ours = dvml_tf.evaluate(dvml_tf.load(str(base / "run")).embed(test.images), test.labels,
                            clustering=False)
    assert metrics["num_test_images"] == len(test) > 100
    assert metrics["recall@1"] == pytest.approx(ours["recall@1"], abs=1e-6)
    assert metrics["map@r"] == pytest.approx(ours["map@r"], abs=1e-6)
    again = subprocess.run([*command, f"--model={base / 'run'}", "--split=test",
                            f"--out={tmp_path / 't'}"], capture_output=True, text=True)
    assert again.returncode == 2 and "already holds embeddings.npy" in again.stderr
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "classes.txt").write_text("my notes")
    refused = subprocess.run([*command, f"--model={base / 'export' / 'dvml_digits'}",
                              f"--images={gallery[0]}", f"--out={mine}"],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "already holds classes.txt" in refused.stderr
    assert sorted(p.name for p in mine.iterdir()) == ["classes.txt"]
    assert (mine / "classes.txt").read_text() == "my notes"
