"""ImageSplit: the images of one split and their labels, wherever the images live."""
import dataclasses
from typing import Callable, Dict, Optional

import numpy as np
import tensorflow as tf

from dvml_tf.data.images import decode_image

# How ImageSplit.images holds the images.
ARRAY = "array"  # uint8 array [N, H, W, 3] in memory (small datasets)
PATHS = "paths"  # 1-D array of image file paths


@dataclasses.dataclass
class ImageSplit:
    """One split of a dataset. Labels are integers; classes need not be contiguous."""

    images: np.ndarray
    labels: np.ndarray
    kind: str
    class_names: Optional[Dict[int, str]] = None  # label -> name, where the dataset has names

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.images) != len(self.labels):
            raise ValueError("images and labels differ in length")

    def __len__(self) -> int:
        return len(self.labels)

    def class_name(self, label: int) -> str:
        """The class's name (a folder, a character), or its label as text."""
        return (self.class_names or {}).get(int(label), str(int(label)))

    def subset(self, indices: np.ndarray) -> "ImageSplit":
        """The images at `indices`, with their labels and the class names."""
        return dataclasses.replace(self, images=self.images[indices], labels=self.labels[indices])

    @property
    def num_classes(self) -> int:
        return len(np.unique(self.labels))

    def image_loader(self) -> Callable[[tf.Tensor], tf.Tensor]:
        """A graph function index -> uint8 image [H, W, 3]."""
        if self.kind == ARRAY:
            table = tf.constant(self.images, dtype=tf.uint8)
            return lambda index: tf.gather(table, index)
        table = tf.constant(self.images)
        return lambda index: decode_image(tf.io.read_file(tf.gather(table, index)))
