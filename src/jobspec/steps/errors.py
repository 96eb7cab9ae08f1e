"""The failure of a step while running (exit code 1), as opposed to bad input."""


class StepError(Exception):
    """A step could not do its work; the message says why, for the user."""
