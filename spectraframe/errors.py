"""The one exception type users see: its message says what is wrong and what to do."""


class SpectraFrameError(Exception):
    """A problem with the user's input, files or settings, reported without a traceback by the CLI."""


def did_you_mean(word: str, choices, cutoff: float = 0.6) -> str:
    """` (did you mean 'x'?)` for the choice closest to a mistyped `word`, or "" when none is close."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""
