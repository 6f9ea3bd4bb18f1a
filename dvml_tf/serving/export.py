"""SavedModel export in TensorFlow Serving's layout: <export_dir>/<model_name>/<version>/.

Signatures, both returning {"embeddings": float32 [N, D]}, L2-normalised z_I:
- serving_default: `image_bytes`, a 1-D string tensor of encoded JPEG/PNG images
  (grayscale, RGB or RGBA, any size), decoded and preprocessed in the graph exactly
  as evaluation preprocesses them;
- serve_images: `images`, float32 [N, H, W, 3] pixels in [0, 255], any H and W.
What the model is (describe_model; a run's export adds its flags) is in
assets.extra/dvml_config.json. An export is written beside its
target and renamed into place, so a model server never sees a partial version.
"""
import dataclasses
import hashlib
import json
import os
import re
import shutil
import uuid
from typing import List, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from dvml_tf.config import RunConfig
from dvml_tf.config_parts import MODEL_NAME
from dvml_tf.data.images import decode_image
from dvml_tf.data.preprocessing import eval_preprocess, eval_preprocess_batch
from dvml_tf.errors import UserError, first_line, flag, out_of_space_is_user_error
from dvml_tf.models.dvml import DVMLModel, require_dvml_model

METADATA_FILE = "dvml_config.json"


def embedding_archive(model: DVMLModel, resize_size: int, crop_size: int
                      ) -> keras.export.ExportArchive:
    """The model's test-time embedding with its preprocessing, as a Keras ExportArchive with
    the two signatures. It holds the backbone and encoder only: no decoder, no optimizer
    state."""
    crop = tf.TensorSpec([crop_size, crop_size, 3], tf.float32)

    def serve_bytes(image_bytes):
        images = tf.map_fn(lambda encoded: eval_preprocess(decode_image(encoded), resize_size,
                                                           crop_size),
                           image_bytes, fn_output_signature=crop)
        return {"embeddings": model.embed(images)}

    def serve_images(images):
        return {"embeddings": model.embed(eval_preprocess_batch(images, resize_size,
                                                                crop_size))}

    archive = keras.export.ExportArchive()
    archive.track(model.backbone)
    archive.track(model.encoder)
    archive.add_endpoint("serving_default", serve_bytes,
                         [tf.TensorSpec([None], tf.string, name="image_bytes")])
    archive.add_endpoint("serve_images", serve_images,
                         [tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])
    return archive


def versions(model_root: str) -> List[int]:
    """The integer version folders under model_root, ascending (TF Serving's layout)."""
    if not os.path.isdir(model_root):
        return []
    return sorted(int(name) for name in os.listdir(model_root) if name.isdigit())


def complete_versions(model_root: str) -> List[int]:
    """The version folders under model_root that hold a SavedModel, ascending."""
    return [v for v in versions(model_root)
            if os.path.isfile(os.path.join(model_root, str(v), "saved_model.pb"))]


def next_version(model_root: str) -> int:
    """1 + the largest integer version folder under model_root (1 when none)."""
    return max(versions(model_root), default=0) + 1


def resolve_export(path: str) -> str:
    """A SavedModel folder: `path` itself, or its newest integer version that holds one."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    complete = complete_versions(path)
    if not complete:
        raise UserError(f"{flag('export')}={path}: neither a SavedModel nor a folder of versions "
                        "holding one")
    return os.path.join(path, str(complete[-1]))


def load_export(path: str):
    """The loaded SavedModel of a dvml_tf export (`path` as resolve_export takes it), with
    its serving_default (image bytes) and serve_images (pixels) signatures."""
    path = resolve_export(path)
    try:
        loaded = tf.saved_model.load(path)
    # IndexError: variables cut short ("Read less bytes than requested").
    except (OSError, ValueError, KeyError, IndexError, tf.errors.OpError) as error:
        raise UserError(f"{path}: not a dvml_tf export ({first_line(error, 160)})") from None
    missing = [name for name in ("serving_default", "serve_images")
               if name not in loaded.signatures]
    if missing:
        raise UserError(f"{path}: not a dvml_tf export (no {missing[0]} signature)")
    for name in ("serving_default", "serve_images"):
        if "embeddings" not in loaded.signatures[name].structured_outputs:
            raise UserError(f"{path}: not a dvml_tf export (its {name} has no embeddings "
                            "output)")
    return loaded


# An export in the making: .partial-<pid of the exporting process>-<uuid4 hex>.
PARTIAL = re.compile(r"\.partial-(\d+)-[0-9a-f]{32}")


def remove_stale_partials(model_root: str) -> None:
    """Removes the folders an export left half-written when its process was killed
    (named PARTIAL, of a process that no longer runs); nothing else."""
    for name in os.listdir(model_root):
        match = PARTIAL.fullmatch(name)
        if match and not _process_runs(int(match.group(1))):
            shutil.rmtree(os.path.join(model_root, name), ignore_errors=True)


def _process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it runs
    return True


def check_serves(path: str, image_size: int, embedding_dim: int) -> None:
    """Raises UserError unless the SavedModel at `path` answers a probe image (mid-grey PNG
    bytes) through serving_default with one finite unit embedding of `embedding_dim`."""
    probe = tf.io.encode_png(tf.fill([image_size, image_size, 3], tf.constant(128, tf.uint8)))
    serve = tf.saved_model.load(path).signatures["serving_default"]
    embedding = serve(image_bytes=tf.reshape(probe, [1]))["embeddings"].numpy()
    if (embedding.shape != (1, embedding_dim) or not np.all(np.isfinite(embedding))
            or abs(float(np.linalg.norm(embedding)) - 1.0) > 1e-3):
        raise UserError(f"the export answers a probe image with {embedding.ravel()[:4]}... "
                        f"of shape {embedding.shape}, not one finite unit embedding of "
                        f"{embedding_dim}; nothing published")


# What makes two exports answer alike: the weights they serve and their preprocessing.
SERVING_KEYS = ("weights_sha256", "image_size", "resize_size", "embedding_dim")


def served_weights_sha256(model: DVMLModel) -> str:
    """A fingerprint of the weights an export serves (backbone and encoder, in order)."""
    digest = hashlib.sha256()
    for variable in model.backbone.weights + model.encoder.weights:
        value = np.asarray(variable.numpy())
        digest.update(f"{variable.path}:{value.dtype}:{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def identical_latest_version(model_root: str, metadata: dict) -> Optional[str]:
    """The newest version's path when it serves exactly what `metadata` describes."""
    complete = complete_versions(model_root)
    if not complete:
        return None
    latest = os.path.join(model_root, str(complete[-1]))
    try:
        with open(os.path.join(latest, "assets.extra", METADATA_FILE)) as f:
            written = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(written, dict):  # hand-edited: not what this export wrote
        return None
    same = all(written.get(key) == metadata[key] for key in SERVING_KEYS)
    return latest if same else None


def describe_model(model: DVMLModel, step: int) -> dict:
    """What an export's metadata says of the model itself: its embedding size, backbone
    (the Keras model's name), metric loss and its settings, DVML's settings, and the
    training step it was exported at."""
    loss_settings = model.metric_loss.settings()
    return {"embedding_dim": int(model.encoder.outputs[0].shape[-1]),
            "backbone": model.backbone.name, "metric_loss": model.metric_loss.loss_name,
            "metric_loss_settings": loss_settings, "dvml": model.settings.dvml,
            "dvml_settings": dataclasses.asdict(model.settings), "train_step": step}


def export_model(model: DVMLModel, config: RunConfig, step: int) -> Tuple[str, bool]:
    """A training run's export (write_export), its metadata naming the run's backbone flag,
    dataset and every flag it trained with."""
    metadata = {**describe_model(model, step), "backbone": config.model.backbone,
                "dataset": config.data.dataset, "training_flags": json.loads(config.to_json())}
    return write_export(model, config.export.export_dir, config.export.model_name,
                        config.data.image_size, config.data.resize_size, metadata)


def write_export(model: DVMLModel, export_dir: str, model_name: str, image_size: int,
                 resize_size: int, metadata: dict) -> Tuple[str, bool]:
    """Exports `model` once its weights are finite and the written SavedModel answers a
    probe image, with `metadata` (describe_model's, at least) in assets.extra; returns
    (the version's path, whether it is new): when the latest version serves the same
    weights and preprocessing, nothing is written and it is returned."""
    bad = model.non_finite_weights()
    if bad:
        raise UserError(f"step {metadata['train_step']}: {len(bad)} weights hold NaN or "
                        f"infinite values (e.g. {bad[0]}); nothing exported")
    model_root = os.path.join(export_dir, model_name)
    try:
        os.makedirs(model_root, exist_ok=True)
    except OSError as error:
        raise UserError(f"{flag('export_dir')}={export_dir}: cannot create "
                        f"({error.strerror})") from None
    if not os.access(model_root, os.W_OK):
        raise UserError(f"{flag('export_dir')}={export_dir}: not writable")
    metadata = {**metadata, "image_size": image_size, "resize_size": resize_size,
                "weights_sha256": served_weights_sha256(model)}
    remove_stale_partials(model_root)
    already = identical_latest_version(model_root, metadata)
    if already:
        return already, False
    archive = embedding_archive(model, resize_size, image_size)
    staging = os.path.join(model_root, f".partial-{os.getpid()}-{uuid.uuid4().hex}")
    try:
        archive.write_out(staging, verbose=False)
        check_serves(staging, image_size, metadata["embedding_dim"])
        extra = os.path.join(staging, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, METADATA_FILE), "w") as f:
            json.dump(metadata, f, indent=2, sort_keys=True)
        version_dir = os.path.join(model_root, str(next_version(model_root)))
        os.rename(staging, version_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return version_dir, True


def export(model: DVMLModel, export_dir: str, image_size: int,
           resize_size: Optional[int] = None, model_name: str = "dvml") -> str:
    """The Python API's export: `model` (a DVMLModel) as the next version under
    <export_dir>/<model_name>/ in TensorFlow Serving's layout, images resized to
    `resize_size` (default: image_size) and centre-cropped to `image_size`; returns the
    version's path (the latest one's when it serves the same already). ValueError or
    TypeError naming the argument for values it cannot use."""
    require_dvml_model(model)
    if not isinstance(model_name, str) or not MODEL_NAME.fullmatch(model_name):
        raise ValueError(f"model_name={model_name!r}: use letters, digits, '.', '_' and '-' "
                         "only, starting with a letter or digit (one folder under export_dir)")
    resize_size = image_size if resize_size is None else resize_size
    for name, value in (("image_size", image_size), ("resize_size", resize_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name}={value!r}: a positive integer (pixels)")
    if image_size > resize_size:
        raise ValueError(f"image_size={image_size} exceeds resize_size={resize_size}: the "
                         "centre crop is taken from the resized image")
    step = int(model.steps_taken.numpy())
    with out_of_space_is_user_error(f"export_dir={export_dir}"):
        return write_export(model, export_dir, model_name, image_size, resize_size,
                            describe_model(model, step))[0]
