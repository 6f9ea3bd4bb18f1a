"""load_splits(dataset, data_dir) -> (train, test) ImageSplits with disjoint classes."""
from dvml_tf.errors import UserError


def load_splits(dataset, data_dir=None, split_file=None):
    if dataset == "digits":
        from dvml_tf.data.digits import load_digits_splits

        return load_digits_splits()
    if dataset == "folder":
        from dvml_tf.data.folder import load_folder_splits

        return load_folder_splits(data_dir, split_file)
    if dataset in ("cub", "cars", "sop"):
        from dvml_tf.data.tfds_datasets import load_tfds_splits

        return load_tfds_splits(dataset, data_dir)
    raise UserError(f"--dataset={dataset} is unknown")
