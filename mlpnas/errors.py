"""Errors a user can cause. Their message is one sentence that names the problem and the fix;
the command line prints it without a traceback and exits with status 2."""


class UserError(Exception):
    """A problem in the user's input (configuration, files, arguments)."""


def whole_number(value, low: int, name: str) -> int:
    """`value` if it is a whole number of at least `low` (not a bool), else the UserError
    that names the setting `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"{name}={value!r} is not allowed; give a whole number of at least "
                        f"{low}.")
    return value
