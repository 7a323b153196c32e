"""Errors a user can act on.

Anything raised as :class:`UserError` is printed by the CLI as one line
(``error: ...``) with a non-zero exit code and no traceback. The message must
name the file, field or value at fault and say what to do.
"""


class UserError(Exception):
    """A problem with the user's input (paths, names, files), not a bug."""
