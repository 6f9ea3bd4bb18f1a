"""`python -m dvml_tf.cli.serving_client`: embeddings of image files from a dvml_tf model
behind TensorFlow Serving.

    python -m dvml_tf.cli.serving_client --server=http://localhost:8501 \\
        --model_name=dvml_glyphs a.jpg b.png                               # REST
    python -m dvml_tf.cli.serving_client --server=localhost:8500 --grpc ...   # gRPC

Prints one JSON line per image: {"image": path, "embedding": [...]}.
"""
import functools
import json
from typing import List

from absl import flags

from dvml_tf.cli.common import run_command
from dvml_tf.errors import UserError
from dvml_tf.serving.client import predict_each, predict_grpc, predict_rest, read_images

FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    """The command line's flags; defined on use so that importing stays side-effect free."""
    flags.DEFINE_string("server", "http://localhost:8501", "REST URL, or host:port with --grpc.",
                        flag_values=flag_values)
    flags.DEFINE_string("model_name", "dvml_glyphs", "The model's name on the server.",
                        flag_values=flag_values)
    flags.DEFINE_boolean("grpc", False, "Use gRPC (tensorflow-serving-api) instead of REST.",
                         flag_values=flag_values)


def main(argv: List[str]) -> None:
    if len(argv) < 2:
        raise UserError("name at least one image file")
    paths = argv[1:]
    encoded = read_images(paths)
    predict = functools.partial(predict_grpc if FLAGS.grpc else predict_rest, FLAGS.server,
                                FLAGS.model_name)
    embedded, rejected = predict_each(predict, paths, encoded)
    for path in paths:
        if path in embedded:
            print(json.dumps({"image": path,
                              "embedding": [round(float(v), 6) for v in embedded[path]]}))
    if rejected:
        first = next(iter(rejected))
        raise UserError(f"{first}: the model server rejected it ({rejected[first]})"
                        + (f"; {len(rejected) - 1} more rejected" if len(rejected) > 1 else ""))


def run() -> None:
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
