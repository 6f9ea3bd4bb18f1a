"""Tiny copies of CUB-200-2011, Cars196 and Stanford Online Products in their upstream
download formats (the archives and annotation files the TFDS builders fetch), and an
offline stand-in for the network that serves them to the real TFDS builders.

Each image is a solid colour given by `label_colour(label)` (the TFDS label, 0-based),
so a test can check that every image kept its label through preparation.
"""
import contextlib
import io
import os
import tarfile
import zipfile
from unittest import mock

import numpy as np
import scipy.io
import tensorflow_datasets as tfds
from PIL import Image

from dvml_tf.data import upstream_hosts


def label_colour(label):
    """An RGB colour per label, far enough apart to survive JPEG compression."""
    return (40 * (label % 6) + 20, 40 * (label // 6 % 6) + 20, 200)


def _jpeg(label, size=(24, 20)):
    buffer = io.BytesIO()
    Image.new("RGB", size, label_colour(label)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _png_mask(size=(24, 20)):
    buffer = io.BytesIO()
    Image.new("L", size, 255).save(buffer, format="PNG")
    return buffer.getvalue()


def _tar_gz(path, files):
    """A .tgz holding {member name: bytes}."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return str(path)


def write_cub(mirror, class_numbers, images_per_class=4):
    """CUB_200_2011.tgz and segmentations.tgz; half of each class in the TFDS test split.
    `class_numbers` are CUB's 1-based class numbers."""
    images, masks, listing, split, boxes = {}, {}, [], [], []
    for number in class_numbers:
        folder = f"{number:03d}.Bird_{number}"
        for i in range(images_per_class):
            stem = f"Bird_{number}_{i:04d}_{number}{i}"
            image_id = len(listing) + 1
            listing.append(f"{image_id} {folder}/{stem}.jpg")
            split.append(f"{image_id} {i % 2}")
            boxes.append(f"{image_id} 2.0 3.0 10.0 8.0")
            images[f"CUB_200_2011/images/{folder}/{stem}.jpg"] = _jpeg(number - 1)
            masks[f"segmentations/{folder}/{stem}.png"] = _png_mask()
    text = {"images.txt": listing, "train_test_split.txt": split, "bounding_boxes.txt": boxes}
    for name, lines in text.items():
        images[f"CUB_200_2011/{name}"] = ("\n".join(lines) + "\n").encode()
    return {"CUB_200_2011.tgz": _tar_gz(mirror / "CUB_200_2011.tgz", images),
            "segmentations.tgz": _tar_gz(mirror / "segmentations.tgz", masks)}


def _cars_annotations(labels_by_file):
    """A Cars196 annotation .mat struct array (bbox_x1, bbox_y1, bbox_x2, bbox_y2, class,
    fname), classes 1-based."""
    fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]
    records = np.zeros((1, len(labels_by_file)), dtype=[(f, "O") for f in fields])
    for i, (name, label) in enumerate(labels_by_file.items()):
        records[0, i] = (np.uint8(2), np.uint8(3), np.uint8(20), np.uint8(16),
                         np.uint8(label + 1), name)
    return {"annotations": records}


def write_cars(mirror, labels, images_per_class=4):
    """cars_train.tgz, cars_test.tgz, car_devkit.tgz and cars_test_annos_withlabels.mat;
    `labels` are 0-based TFDS labels, half of each class's images in each TFDS split."""
    files = {"train": {}, "test": {}}
    annotations = {"train": {}, "test": {}}
    for label in labels:
        for i in range(images_per_class):
            split = ("train", "test")[i % 2]
            name = f"{len(annotations[split]) + 1:05d}.jpg"
            files[split][f"cars_{split}/{name}"] = _jpeg(label)
            annotations[split][name] = label
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, _cars_annotations(annotations["train"]))
    test_annotations = mirror / "cars_test_annos_withlabels.mat"
    scipy.io.savemat(test_annotations, _cars_annotations(annotations["test"]))
    return {"cars_train.tgz": _tar_gz(mirror / "cars_train.tgz", files["train"]),
            "cars_test.tgz": _tar_gz(mirror / "cars_test.tgz", files["test"]),
            "car_devkit.tgz": _tar_gz(mirror / "car_devkit.tgz",
                                      {"devkit/cars_train_annos.mat": buffer.getvalue()}),
            "cars_test_annos_withlabels.mat": str(test_annotations)}


def write_sop(mirror, train_class_ids, test_class_ids, images_per_class=3):
    """Stanford_Online_Products.zip with Ebay_train.txt and Ebay_test.txt; class ids are
    SOP's 1-based ones (train 1-11318, test 11319-22634)."""
    path = mirror / "Stanford_Online_Products.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for split, class_ids in (("train", train_class_ids), ("test", test_class_ids)):
            lines = ["image_id class_id super_class_id path"]
            for class_id in class_ids:
                for i in range(images_per_class):
                    image = f"bicycle_final/{class_id}_{i}.JPG"
                    lines.append(f"{len(lines)} {class_id} 1 {image}")
                    archive.writestr(f"Stanford_Online_Products/{image}", _jpeg(class_id - 1))
            archive.writestr(f"Stanford_Online_Products/Ebay_{split}.txt",
                             "\n".join(lines) + "\n")
    return {"Stanford_Online_Products.zip": str(path)}


@contextlib.contextmanager
def offline_downloads(files, requested=None):
    """Serves `files` ({upstream file name: local path}) to TFDS in place of the network:
    a URL is answered by the file named as its last path component, and so is the check
    of the hosts. Extraction, checksum-free caching and preparation stay TFDS's own (the
    pattern of TFDS's dummy-data tests). The URLs TFDS asks for are added to `requested`."""

    def fetch(url):
        if requested is not None:
            requested.append(str(url))
        name = os.path.basename(str(url).split("?")[0])
        if name not in files:
            raise AssertionError(f"unexpected download {url}")
        return files[name]

    def download(self, url_or_urls):
        return tfds.core.utils.map_nested(fetch, url_or_urls)

    def download_and_extract(self, url_or_urls):
        return self.extract(download(self, url_or_urls))

    def unreachable(url, timeout):  # the check of the hosts asks the stand-in too
        return None if os.path.basename(url.split("?")[0]) in files else "HTTP 404"

    with mock.patch.multiple(tfds.download.DownloadManager, download=download,
                             download_and_extract=download_and_extract), \
            mock.patch.object(upstream_hosts, "_unreachable", unreachable):
        yield
