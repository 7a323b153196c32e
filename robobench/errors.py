"""Errors a user can act on.

Anything raised as :class:`UserError` is printed by the CLI as one line
(``error: ...``) with a non-zero exit code and no traceback. The message must
name the file, field or value at fault and say what to do.
"""


class UserError(Exception):
    """A problem with the user's input (paths, names, files), not a bug."""


def check_known_keys(section: str, cfg: dict, known: set[str]) -> None:
    """``UserError`` naming the keys of config ``section`` that are not in ``known``.

    Typos in a config (``train.epoch``) fail loudly instead of being ignored.
    """
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise UserError(f"unknown {section} config keys {unknown}; known keys: {sorted(known)}")
