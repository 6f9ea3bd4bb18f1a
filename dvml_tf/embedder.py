"""`load(path)`: a trained run or an export as an `Embedder`, which turns images (file
paths, encoded bytes or pixel arrays) into unit embeddings in numpy."""
import os
from typing import Callable, Dict, List, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from dvml_tf.data.images import check_pixels, decode_image
from dvml_tf.data.preprocessing import eval_preprocess_batch
from dvml_tf.errors import UserError
from dvml_tf.files import read_file

Images = Union[np.ndarray, Sequence[str], Sequence[bytes]]
# Files decoded and held at once while embedding a list of them.
DECODED_AT_ONCE = 256


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
        255). A file that cannot be read, or bytes TensorFlow does not decode as an image,
        is a one-line UserError (embed_files skips them instead)."""
        if isinstance(images, (str, bytes)):
            raise TypeError("images: a list of paths or of encoded images, or a pixel array; "
                            "not a single one (wrap it in a list)")
        if isinstance(images, np.ndarray) and images.dtype.kind in "uif":
            images = check_pixels(images)
            decoded = list(images[None] if images.ndim == 3 else images)
            if not decoded:
                raise UserError("no images to embed")
            return self._embed_decoded(decoded, batch_size)
        embeddings, _, refused = self._embed_items(list(images), batch_size, stop=True)
        if refused:
            name, reason = next(iter(refused.items()))
            raise UserError(f"{name}: {reason}")
        if not len(embeddings):
            raise UserError("no images to embed")
        return embeddings

    def embed_files(self, paths: Sequence[str], batch_size: int = 64
                    ) -> Tuple[np.ndarray, List[str], Dict[str, str]]:
        """(embeddings [N, D] of the usable files, those N paths, {path: why not} for the
        others): what a gallery index and its queries take, skipping rather than stopping."""
        return self._embed_items(list(paths), batch_size, stop=False)

    def _embed_items(self, items: List, batch_size: int, stop: bool
                     ) -> Tuple[np.ndarray, List[str], Dict[str, str]]:
        """embed_files of paths or encoded bytes, DECODED_AT_ONCE at a time (a gallery's
        decoded images would not fit in memory at once); with `stop`, up to the first
        item refused."""
        chunks, kept, refused = [], [], {}
        for start in range(0, len(items), DECODED_AT_ONCE):
            decoded, names, bad = _decoded(items[start:start + DECODED_AT_ONCE], start)
            refused.update(bad)
            if bad and stop:
                break
            kept += names
            if decoded:
                chunks.append(self._embed_decoded(decoded, batch_size))
        if not chunks:
            return np.zeros((0, 0), np.float32), [], refused
        return np.concatenate(chunks), kept, refused

    def _embed_decoded(self, decoded: List, batch_size: int) -> np.ndarray:
        """Embeddings of [H, W, 3] images, in order, in batches of one size each."""
        by_shape: Dict[tuple, List[int]] = {}
        for position, image in enumerate(decoded):
            by_shape.setdefault(tuple(image.shape), []).append(position)
        embeddings = [None] * len(decoded)
        for positions in by_shape.values():
            for start in range(0, len(positions), batch_size):
                chunk = positions[start:start + batch_size]
                batch = tf.cast(tf.stack([decoded[i] for i in chunk]), tf.float32)
                for i, row in zip(chunk, np.asarray(self._embed_pixels(batch))):
                    embeddings[i] = row
        return np.stack(embeddings).astype(np.float32)


def _read_and_decode(item: Union[str, bytes]):
    """(the image [H, W, 3] or None, why not or None) of a file path or encoded bytes: the
    one rule of every embedder for what cannot be embedded."""
    try:
        data = item if isinstance(item, bytes) else read_file(item)
    except OSError as error:
        return None, f"cannot read ({error.strerror})"
    try:
        return decode_image(tf.constant(data)), None
    except tf.errors.InvalidArgumentError:
        return None, "not an image TensorFlow decodes"


def _decoded(items: Sequence[Union[str, bytes]], first: int = 0):
    """([H, W, 3] images of the usable items, their names, {name: why not} of the
    others); a path is its own name, bytes are "image N" (N counted from `first`)."""
    decoded, kept, refused = [], [], {}
    for position, item in enumerate(items, first):
        name = f"image {position}" if isinstance(item, bytes) else str(item)
        image, reason = _read_and_decode(item)
        if reason:
            refused[name] = reason
        else:
            decoded.append(image)
            kept.append(name)
    return decoded, kept, refused


def load(path: str) -> Embedder:
    """An Embedder of a training run's folder (its newest checkpoint) or of an export (a
    SavedModel folder, or a model folder of integer versions: the newest)."""
    from dvml_tf.config import RUN_CONFIG_FILE

    if os.path.isfile(os.path.join(path, RUN_CONFIG_FILE)):
        from dvml_tf.training.checkpoints import load_trained_model

        model, config = load_trained_model(path)
        return Embedder.from_model(model, config.data.image_size, config.data.resize_size)
    from dvml_tf.serving.export import load_export

    serve_images = load_export(path).signatures["serve_images"]
    return Embedder(lambda pixels: serve_images(images=pixels)["embeddings"])
