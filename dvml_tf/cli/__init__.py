"""The command lines: the only modules that define absl flags.

train.py (`python -m dvml_tf.main`) turns its flags into a RunConfig; evaluate.py, embed.py,
visualize.py, index.py and serving_client.py are the other commands. common.py holds what
they share: one-line errors with exit status 2.

A command is a process of its own, so here (and only here) TensorFlow's C++ log lines are
held back: only FATAL ones are shown (TF_CPP_MIN_LOG_LEVEL=0 in the environment shows them
all), and its start-up notices never stand ahead of a one-line error.
"""
import os
import sys

from dvml_tf.errors import UserError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from dvml_tf.stack import check_stack, import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

# An unsupported TensorFlow, or a Keras other than 3, ends every command in one line.
try:
    check_stack()
except UserError as error:
    sys.stderr.write(f"error: {error}\n")
    sys.exit(2)
