"""The one exception type that the CLI turns into a clear one-line message instead of a traceback."""


class SaboteurError(Exception):
    """A problem with the user's input or environment, explained in one line."""
