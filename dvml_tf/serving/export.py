"""SavedModel export in TensorFlow Serving's layout: <export_dir>/<model_name>/<version>/.

Signatures, both returning {"embeddings": float32 [N, D]}, L2-normalised z_I:
- serving_default: `image_bytes`, a 1-D string tensor of encoded JPEG/PNG images
  (grayscale, RGB or RGBA, any size), decoded and preprocessed in the graph exactly
  as evaluation preprocesses them;
- serve_images: `images`, float32 [N, H, W, 3] pixels in [0, 255], any H and W.
An export is written beside its target and renamed into place, so a model server
never sees a partial version.
"""
import json
import os
import shutil
import uuid
from typing import List

import tensorflow as tf

from dvml_tf.config import RunConfig
from dvml_tf.data.images import decode_image
from dvml_tf.data.preprocessing import eval_preprocess
from dvml_tf.errors import UserError
from dvml_tf.models.dvml import DVMLModel

METADATA_FILE = "dvml_config.json"


class EmbeddingModule(tf.Module):
    """The model's test-time embedding with its preprocessing, for export.

    It holds the backbone and encoder only: no decoder, no optimizer state.
    """

    def __init__(self, model: DVMLModel, resize_size: int, crop_size: int, metadata: dict):
        super().__init__()
        # Tracked, so that the SavedModel holds the weights model.embed reads.
        self.backbone = model.backbone
        self.encoder = model.encoder
        self._embed = model.embed
        self.resize_size = resize_size
        self.crop_size = crop_size
        self.metadata = tf.Variable(json.dumps(metadata, sort_keys=True), trainable=False,
                                    name="metadata")

    def _preprocess(self, image):
        return eval_preprocess(image, self.resize_size, self.crop_size)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_bytes(self, image_bytes):
        images = tf.map_fn(
            lambda encoded: self._preprocess(decode_image(encoded)),
            image_bytes,
            fn_output_signature=tf.TensorSpec([self.crop_size, self.crop_size, 3], tf.float32),
        )
        return {"embeddings": self._embed(images)}

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32,
                                                name="images")])
    def serve_images(self, images):
        preprocessed = tf.map_fn(
            self._preprocess, images,
            fn_output_signature=tf.TensorSpec([self.crop_size, self.crop_size, 3], tf.float32),
        )
        return {"embeddings": self._embed(preprocessed)}


def versions(model_root: str) -> List[int]:
    """The integer version folders under model_root, ascending (TF Serving's layout)."""
    if not os.path.isdir(model_root):
        return []
    return sorted(int(name) for name in os.listdir(model_root) if name.isdigit())


def next_version(model_root: str) -> int:
    """1 + the largest integer version folder under model_root (1 when none)."""
    return max(versions(model_root), default=0) + 1


def export_model(model: DVMLModel, config: RunConfig, step: int) -> str:
    """Exports `model`; returns the new version's path."""
    model_root = os.path.join(config.export_dir, config.model_name)
    try:
        os.makedirs(model_root, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"--export_dir={config.export_dir}: cannot create ({error.strerror})"
        ) from None
    if not os.access(model_root, os.W_OK):
        raise UserError(f"--export_dir={config.export_dir}: not writable")
    metadata = {
        "embedding_dim": config.embedding_dim,
        "backbone": config.backbone,
        "image_size": config.image_size,
        "resize_size": config.resize_size,
        "metric_loss": config.metric_loss,
        "dvml": config.dvml,
        "dataset": config.dataset,
        "train_step": step,
        "training_flags": json.loads(config.to_json()),
    }
    module = EmbeddingModule(model, config.resize_size, config.image_size, metadata)
    staging = os.path.join(model_root, f".partial-{uuid.uuid4().hex}")
    try:
        tf.saved_model.save(
            module, staging,
            signatures={"serving_default": module.serve_bytes, "serve_images": module.serve_images},
        )
        extra = os.path.join(staging, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, METADATA_FILE), "w") as f:
            json.dump(metadata, f, indent=2, sort_keys=True)
        version_dir = os.path.join(model_root, str(next_version(model_root)))
        os.rename(staging, version_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return version_dir
