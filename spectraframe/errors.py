"""The one exception type users see: its message says what is wrong and what to do."""


class SpectraFrameError(Exception):
    """A problem with the user's input, files or settings, reported without a traceback by the CLI."""
