"""`python -m dvml_tf.cli.index`: a retrieval index over an exported model.

    python -m dvml_tf.cli.index build --export=saved_models/dvml_glyphs --images=gallery/ \\
        --index=gallery_index
    python -m dvml_tf.cli.index query --index=gallery_index --k=5 query1.jpg query2.png

`build` embeds every image under --images and writes the index into --index, a new or
empty folder or an earlier index's; `query` prints, per query image, one JSON line with
its k nearest gallery images and their Euclidean distances; a query image that cannot be
read or decoded is named on stderr, and the exit status is 2 only when none was answered.
"""
import json
import sys
from typing import List

from absl import flags

from dvml_tf.cli.common import run_command
from dvml_tf.errors import UserError
from dvml_tf.serving.index import build_index, query_index

FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    """The command line's flags; defined on use so that importing stays side-effect free."""
    flags.DEFINE_string("export", "saved_models/dvml_glyphs", "An export, or its model folder.",
                        flag_values=flag_values)
    flags.DEFINE_string("images", None, "build: the gallery folder.", flag_values=flag_values)
    flags.DEFINE_string("index", None, "The index folder.", flag_values=flag_values)
    flags.DEFINE_integer("k", 5, "query: neighbours per query image.", flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 32, "build: images embedded per call.",
                         flag_values=flag_values)


def main(argv: List[str]) -> None:
    if len(argv) < 2 or argv[1] not in ("build", "query"):
        raise UserError("usage: python -m dvml_tf.cli.index build|query [flags] [images]")
    if not FLAGS.index:
        raise UserError("--index is required")
    if FLAGS.k < 1:
        raise UserError(f"--k={FLAGS.k} must be positive")
    if FLAGS.batch_size < 1:
        raise UserError(f"--batch_size={FLAGS.batch_size} must be positive")
    if argv[1] == "build":
        if not FLAGS.images:
            raise UserError("--images is required with build")
        count = build_index(FLAGS.export, FLAGS.images, FLAGS.index, FLAGS.batch_size)
        print(f"indexed {count} images into {FLAGS.index}")
    else:
        if len(argv) < 3:
            raise UserError("name at least one query image")
        answered, failed = query_index(FLAGS.index, argv[2:], FLAGS.k)
        for result in answered:
            print(json.dumps(result))
        for path in argv[2:]:  # in the order given
            if path in failed:
                sys.stderr.write(f"error: {path}: {failed[path]}\n")
        if not answered:
            sys.exit(2)


def run() -> None:
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
