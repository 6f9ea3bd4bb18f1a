"""`load(path)`: a trained run or an export as an `Embedder`, which turns images (file
paths, encoded bytes or pixel arrays) into unit embeddings in numpy."""
import os
from typing import Callable, Sequence, Union

import numpy as np
import tensorflow as tf

from dvml_tf.data.images import check_pixels, decode_image
from dvml_tf.data.preprocessing import eval_preprocess_batch
from dvml_tf.errors import UserError
from dvml_tf.files import read_file

Images = Union[np.ndarray, Sequence[str], Sequence[bytes]]


class Embedder:
    """Embeds images with a model's test-time embedding (L2-normalised z_I), preprocessed
    as evaluation preprocesses them. `embed_pixels` takes float32 pixels [N, H, W, 3] of
    one size, preprocesses and embeds them."""

    def __init__(self, embed_pixels: Callable[[tf.Tensor], tf.Tensor]):
        self._embed_pixels = embed_pixels

    @classmethod
    def from_model(cls, model, image_size: int, resize_size: int) -> "Embedder":
        """A DVMLModel in memory (trained with `fit`, say); images are resized to
        `resize_size` and centre-cropped to `image_size`."""
        from dvml_tf.models.dvml import require_dvml_model

        require_dvml_model(model)

        @tf.function(reduce_retracing=True)
        def embed_pixels(pixels):
            return model.embed(eval_preprocess_batch(pixels, resize_size, image_size))

        return cls(embed_pixels)

    def embed(self, images: Images, batch_size: int = 64) -> np.ndarray:
        """float32 [N, D] unit embeddings of `images`, in order: a list of file paths, a list
        of encoded JPEG/PNG/GIF/BMP bytes, or pixels [N, H, W, 3] (or [H, W, 3]) in
        [0, 255] of any numeric dtype (float pixels in [0, 1] are refused: multiply them by
        255)."""
        decoded = _decoded(images)
        if not decoded:
            raise UserError("no images to embed")
        chunks, start = [], 0
        while start < len(decoded):  # runs of images of one size, batch_size at most
            end = start + 1
            while (end < len(decoded) and end - start < batch_size
                   and decoded[end].shape == decoded[start].shape):
                end += 1
            batch = tf.cast(tf.stack(decoded[start:end]), tf.float32)
            chunks.append(np.asarray(self._embed_pixels(batch)))
            start = end
        return np.concatenate(chunks).astype(np.float32)


def _decoded(images: Images):
    """Each image as a [H, W, 3] tensor; a one-line UserError names a file that cannot be
    read or decoded, a ValueError pixels out of [0, 255] (check_pixels)."""
    if isinstance(images, (str, bytes)):
        raise TypeError("images: a list of paths or of encoded images, or a pixel array; "
                        "not a single one (wrap it in a list)")
    if isinstance(images, np.ndarray) and images.dtype.kind in "uif":
        images = check_pixels(images)
        return list(images[None] if images.ndim == 3 else images)
    decoded = []
    for item in images:
        name = "an image" if isinstance(item, bytes) else str(item)
        try:
            data = item if isinstance(item, bytes) else read_file(item)
            decoded.append(decode_image(tf.constant(data)))
        except (OSError, tf.errors.InvalidArgumentError):
            raise UserError(f"{name}: cannot be read or decoded as an image") from None
    return decoded


def load(path: str) -> Embedder:
    """An Embedder of a training run's folder (its newest checkpoint) or of an export (a
    SavedModel folder, or a model folder of integer versions: the newest)."""
    from dvml_tf.config import RUN_CONFIG_FILE

    if os.path.isfile(os.path.join(path, RUN_CONFIG_FILE)):
        from dvml_tf.training.checkpoints import load_trained_model

        model, config = load_trained_model(path)
        return Embedder.from_model(model, config.image_size, config.resize_size)
    from dvml_tf.serving.export import load_export

    serve_images = load_export(path).signatures["serve_images"]
    return Embedder(lambda pixels: serve_images(images=pixels)["embeddings"])
