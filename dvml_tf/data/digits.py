"""scikit-learn's bundled digits (1,797 real 8x8 images): classes 0-4 train, 5-9 test."""
from typing import Tuple

import numpy as np
from sklearn.datasets import load_digits

from dvml_tf.data.splits import ARRAY, ImageSplit


def load_digits_splits() -> Tuple[ImageSplit, ImageSplit]:
    """(train, test) ImageSplits of uint8 RGB 8x8 images; no download needed."""
    digits = load_digits()
    gray = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    train = digits.target < 5
    return (
        ImageSplit(rgb[train], digits.target[train], ARRAY),
        ImageSplit(rgb[~train], digits.target[~train], ARRAY),
    )
