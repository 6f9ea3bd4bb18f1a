"""What every command line of dvml_tf shares: its own flags in --help, one-line errors,
exit status 2."""
import sys
from typing import Callable, List, Optional

from absl import app, flags

from dvml_tf.errors import UserError, settings_named_as_flags
from dvml_tf.terminal import install_log_handler
from dvml_tf.training.interrupt import Interrupted

INTERRUPTED_EXIT_STATUS = 130  # as a shell reports a process ended by SIGINT


HELP_ARGUMENTS = {"--help": True, "-help": True, "-h": True, "-?": True, "--helpshort": True,
                  "--helpfull": False, "-helpfull": False}


def parse_flags(argv: List[str]) -> List[str]:
    """absl flags parser that reports a bad flag in one line and exits with status 2, and
    answers --help (this command's flags) and --helpfull (all) on stdout with status 0."""
    for argument in argv[1:]:
        if argument in HELP_ARGUMENTS:
            app.usage(shorthelp=HELP_ARGUMENTS[argument], writeto_stdout=True, exitcode=0)
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        sys.stderr.write(f"error: {error}\n")
        sys.exit(2)


def define_command_flags(define_flags: Callable[[], None]) -> None:
    """Defines a command's flags and makes them the ones its --help lists (absl lists the
    key flags of the main module, sys.argv[0])."""
    before = set(flags.FLAGS)
    define_flags()
    for name in sorted(set(flags.FLAGS) - before):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])


def run_command(main: Callable[[List[str]], None],
                define_flags: Optional[Callable[[], None]] = None) -> None:
    """Runs an absl `main(argv)`, its messages naming settings as flags; a bad flag or a
    UserError ends it with one line and exit 2, Ctrl-C with one line and exit 130."""
    if define_flags:
        define_command_flags(define_flags)

    def guarded_main(argv):
        install_log_handler()  # 'HH:MM:SS message' lines, not absl's
        try:
            with settings_named_as_flags():
                main(argv)
        except UserError as error:
            sys.stderr.write(f"error: {error}\n")
            sys.exit(2)
        except Interrupted as interrupted:
            sys.stderr.write(f"{interrupted}\n")
            sys.exit(INTERRUPTED_EXIT_STATUS)
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            sys.exit(INTERRUPTED_EXIT_STATUS)

    app.run(guarded_main, flags_parser=parse_flags)
