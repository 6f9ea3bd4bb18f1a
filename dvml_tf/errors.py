"""The one exception type that reaches the user as a one-line message."""


class UserError(Exception):
    """Bad input from the user (flag, file, image): printed as one line, exit status 2."""


def first_line(error, limit=200):
    """The first non-empty line of an exception's message (its type's name when it has
    none), at most `limit` characters: the reason quoted in a UserError."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:limit]
