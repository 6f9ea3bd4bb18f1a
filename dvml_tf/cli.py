"""What every command line of dvml_tf shares: one-line errors for bad flags."""
import sys

from absl import flags


def parse_flags(argv):
    """absl flags parser that reports a bad flag in one line and exits with status 2."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        sys.stderr.write(f"error: {error}\n")
        sys.exit(2)
