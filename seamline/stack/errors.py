"""The one error the local stack raises for problems a user can fix."""


class StackError(Exception):
    """A one-line, user-facing failure of `seamline stack`: the cause and the fix."""
