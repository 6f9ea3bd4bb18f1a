"""The command lines: the only modules that define absl flags.

train.py (`python -m dvml_tf.main`) turns its flags into a RunConfig; evaluate.py,
visualize.py, index.py and serving_client.py are the other commands. common.py holds what
they share: one-line errors with exit status 2.
"""
import sys

from dvml_tf.errors import UserError
from dvml_tf.stack import check_stack

# An unsupported TensorFlow, or a missing tf-keras, ends every command in one line.
try:
    check_stack()
except UserError as error:
    sys.stderr.write(f"error: {error}\n")
    sys.exit(2)
