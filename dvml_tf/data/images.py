"""Image files: what counts as an image, and the one decoder that training, evaluation and
export all use, so that an image accepted by a scan always trains."""
import concurrent.futures
import io
import os
import stat
from typing import Callable, List, Optional

import numpy as np
import tensorflow as tf
from PIL import Image

IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
BMP_SIGNATURE = b"BM"


def check_pixels(pixels: np.ndarray, what: str = "images") -> np.ndarray:
    """`pixels` [N, H, W, 3] or [H, W, 3] in [0, 255] as they are; ValueError naming
    `what` for another shape, non-finite values, values outside [0, 255], or float pixels
    that all lie in [0, 1] (scaled for another convention: multiply them by 255)."""
    if pixels.ndim not in (3, 4) or pixels.shape[-1] != 3:
        raise ValueError(f"{what}: pixels of shape {pixels.shape}; need [N, H, W, 3] or "
                         "[H, W, 3] (RGB)")
    if pixels.dtype.kind == "f" and not np.isfinite(pixels).all():
        raise ValueError(f"{what}: pixels hold NaN or infinite values")
    if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
        raise ValueError(f"{what}: pixels from {pixels.min()} to {pixels.max()} "
                         f"({pixels.dtype}); need values in [0, 255]")
    if pixels.dtype.kind == "f" and pixels.size and 0 < pixels.max() <= 1.0:
        raise ValueError(f"{what}: float pixels all in [0, 1]; dvml_tf takes [0, 255]: "
                         "multiply them by 255")
    return pixels


def decode_image(image_bytes: tf.Tensor) -> tf.Tensor:
    """Encoded JPEG/PNG/GIF/BMP bytes -> uint8 [H, W, 3]; grayscale is replicated, alpha
    dropped. The graph decoder of training, evaluation and the exported model."""
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def looks_like_image(path: str) -> bool:
    """True when the path is a regular file (checked before it is opened: opening a FIFO
    waits for a writer for ever) that starts like a JPEG, PNG, GIF or BMP."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return any(head.startswith(signature) for signature in IMAGE_SIGNATURES)


def decodes_exactly(path: str) -> bool:
    """True when `decode_image` reads the file and gets the picture that is in it.

    The file must also decode completely with Pillow (TensorFlow may accept some truncated
    files). TensorFlow reads a palette BMP's indices as grey levels and cannot read 1- or
    4-bit BMPs, so a BMP passes only when both decoders give the same pixels.
    """
    if not looks_like_image(path):
        return False
    try:
        with open(path, "rb") as f:
            data = f.read()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            reference = np.asarray(image.convert("RGB")) if data.startswith(BMP_SIGNATURE) else None
        decoded = decode_image(data).numpy()
    except (OSError, ValueError, Image.DecompressionBombError, tf.errors.OpError):
        return False
    return reference is None or np.array_equal(decoded, reference)


def usable_images(paths: List[str], checked: Optional[Callable[[], None]] = None
                  ) -> List[str]:
    """The paths that decode exactly, checked in parallel threads (decoders release the
    GIL); `checked` is called after each path (progress)."""
    usable = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        for path, ok in zip(paths, pool.map(decodes_exactly, paths, chunksize=64)):
            if ok:
                usable.append(path)
            if checked:
                checked()
    return usable
