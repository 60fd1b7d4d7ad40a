"""Errors a user can cause. Their message is one sentence that names the problem and the fix;
the command line prints it without a traceback and exits with status 2."""


class UserError(Exception):
    """A problem in the user's input (configuration, files, arguments)."""
