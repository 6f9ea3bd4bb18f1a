"""`python -m dvml_tf.cli.embed --model=M (--images=FOLDER | --split=test) --out=DIR`: the
unit embeddings of a trained run or an export (M), written as DIR/embeddings.npy and
DIR/labels.npy, the input of `python -m dvml_tf.cli.evaluate`.

--images: one subfolder per class (labels 0, 1, ... in sorted order; DIR/classes.txt names
them). --split: the run's own dataset split (M must be a run folder).
"""
import os
from typing import List, Optional

import numpy as np
from absl import flags

from dvml_tf.cli.common import run_command
from dvml_tf.errors import UserError

FLAGS = flags.FLAGS
EMBEDDINGS, LABELS, CLASSES = "embeddings.npy", "labels.npy", "classes.txt"


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    flags.DEFINE_string("model", None, "A training run's --model_dir, or an export (a "
                        "SavedModel folder, or a folder of its versions).",
                        flag_values=flag_values)
    flags.DEFINE_string("images", None, "A folder with one subfolder of images per class.",
                        flag_values=flag_values)
    flags.DEFINE_enum("split", None, ["train", "test"], "The run's own dataset split.",
                      flag_values=flag_values)
    flags.DEFINE_string("out", None, "The folder to write embeddings.npy, labels.npy (and "
                        "classes.txt) to; never over existing ones.", flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 64, "Images embedded at once.", flag_values=flag_values)


def _split_embeddings(model_dir: str, split: str, batch_size: int):
    from dvml_tf.data.datasets import load_splits
    from dvml_tf.evaluation.model_evaluation import compute_embeddings
    from dvml_tf.training.checkpoints import load_trained_model

    model, config = load_trained_model(model_dir)
    train, test = load_splits(config.data.dataset, config.data.data_dir, config.data.split_file)
    return compute_embeddings(model, train if split == "train" else test,
                              config.image_sizes(training=False), batch_size)


def _folder_embeddings(model: str, root: str, batch_size: int):
    from dvml_tf.data.folder import scan_class_folders
    from dvml_tf.embedder import load

    if not os.path.isdir(root):
        raise UserError(f"--images={root}: no such directory")
    classes = {name: paths for name, paths in sorted(scan_class_folders(root).items()) if paths}
    if not classes:
        raise UserError(f"--images={root}: no class folder with images")
    paths = [path for folder in classes.values() for path in folder]
    labels = np.repeat(np.arange(len(classes)), [len(folder) for folder in classes.values()])
    return load(model).embed(paths, batch_size), labels, list(classes)


def main(argv: List[str]) -> None:
    if len(argv) > 1:
        raise UserError(f"unexpected argument {argv[1]!r}")
    if not FLAGS.model or not FLAGS.out:
        raise UserError("--model and --out are required")
    if bool(FLAGS.images) == bool(FLAGS.split):
        raise UserError("give one of --images=FOLDER or --split=train|test")
    if FLAGS.batch_size < 1:
        raise UserError(f"--batch_size={FLAGS.batch_size} must be positive")
    existing = [name for name in (EMBEDDINGS, LABELS, CLASSES)
                if os.path.lexists(os.path.join(FLAGS.out, name))]
    if existing:
        raise UserError(f"--out={FLAGS.out}: already holds {existing[0]}; choose a new folder")
    if not os.path.exists(FLAGS.model):
        raise UserError(f"--model={FLAGS.model}: no such folder")
    class_names = None
    if FLAGS.split:
        embeddings, labels = _split_embeddings(FLAGS.model, FLAGS.split, FLAGS.batch_size)
    else:
        embeddings, labels, class_names = _folder_embeddings(FLAGS.model, FLAGS.images,
                                                             FLAGS.batch_size)
    _write_outputs(FLAGS.out, embeddings, np.asarray(labels, np.int64), class_names)
    print(f"wrote {len(labels)} embeddings of {embeddings.shape[1]} dimensions to {FLAGS.out}")


def _write_outputs(out: str, embeddings: np.ndarray, labels: np.ndarray,
                   class_names: Optional[List[str]]) -> None:
    """Writes the files all or none: each to a temporary name first, renamed once every
    one is whole, so that a full disk leaves nothing that blocks the rerun."""
    written = []
    try:
        os.makedirs(out, exist_ok=True)
        for name, write in ((EMBEDDINGS, lambda path: np.save(path, embeddings)),
                            (LABELS, lambda path: np.save(path, labels)),
                            (CLASSES, lambda path: _write_text(path, class_names))):
            if name == CLASSES and not class_names:
                continue
            # np.save keeps a name ending in .npy as it is.
            temporary = os.path.join(out, f".{name}.{os.getpid()}.tmp{os.path.splitext(name)[1]}")
            written.append((temporary, os.path.join(out, name)))
            write(temporary)
        for temporary, path in written:
            os.replace(temporary, path)
    except OSError as error:
        for temporary, _ in written:
            if os.path.lexists(temporary):
                os.remove(temporary)
        raise UserError(f"--out={out}: cannot write ({error.strerror})") from None


def _write_text(path: str, lines: List[str]) -> None:
    with open(path, "x") as f:
        f.write("".join(f"{line}\n" for line in lines))


def run() -> None:
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
