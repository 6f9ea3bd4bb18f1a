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
