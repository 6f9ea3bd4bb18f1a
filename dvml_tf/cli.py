"""What every command line of dvml_tf shares: one-line errors, exit status 2."""
import sys

from absl import app, flags

from dvml_tf.errors import UserError


def parse_flags(argv):
    """absl flags parser that reports a bad flag in one line and exits with status 2."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        sys.stderr.write(f"error: {error}\n")
        sys.exit(2)


def run_command(main, define_flags=None):
    """Runs an absl `main(argv)`; a bad flag or a UserError ends it with one line and exit 2."""
    if define_flags:
        define_flags()

    def guarded_main(argv):
        try:
            main(argv)
        except UserError as error:
            sys.stderr.write(f"error: {error}\n")
            sys.exit(2)

    app.run(guarded_main, flags_parser=parse_flags)
