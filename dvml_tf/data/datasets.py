"""load_splits(dataset, data_dir) -> (train, test) ImageSplits with disjoint classes.

Each loader is imported on use: TFDS is slow to import and the bundled datasets do not need it.
"""
from typing import Callable, Dict, Optional, Tuple

from dvml_tf.data.splits import ImageSplit
from dvml_tf.errors import UserError, flag


def _digits(data_dir, split_file, keep_downloads):
    from dvml_tf.data.digits import load_digits_splits

    return load_digits_splits()


def _glyphs(data_dir, split_file, keep_downloads):
    from dvml_tf.data.glyphs import load_glyphs_splits

    return load_glyphs_splits(data_dir)


def _folder(data_dir, split_file, keep_downloads):
    from dvml_tf.data.folder import load_folder_splits

    return load_folder_splits(data_dir, split_file)


def _tfds(dataset):
    def load(data_dir, split_file, keep_downloads):
        from dvml_tf.data.tfds_datasets import load_tfds_splits

        return load_tfds_splits(dataset, data_dir, keep_downloads)

    return load


# --dataset's names and their loaders (data_dir, split_file, keep_downloads) -> (train, test).
LOADERS: Dict[str, Callable] = {"glyphs": _glyphs, "digits": _digits, "cub": _tfds("cub"),
                                "cars": _tfds("cars"), "sop": _tfds("sop"), "folder": _folder}
DATASETS = tuple(LOADERS)


def load_splits(dataset: str, data_dir: Optional[str] = None,
                split_file: Optional[str] = None, keep_downloads: bool = True
                ) -> Tuple[ImageSplit, ImageSplit]:
    if dataset not in LOADERS:
        raise UserError(f"{flag('dataset')}={dataset} is unknown; choose one of "
                        f"{', '.join(DATASETS)}")
    if dataset == "folder" and not data_dir:
        raise ValueError("data_dir: the folder of class folders that dataset 'folder' reads")
    return LOADERS[dataset](data_dir, split_file, keep_downloads)
