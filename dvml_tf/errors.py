"""The one exception type that reaches the user as a one-line message."""


class UserError(Exception):
    """Bad input from the user (flag, file, image): printed as one line, exit status 2."""
