"""Numbers typed by people: every numeric option of every command, `serve`'s options and the values inside a
`--degradation` spec go through one parser, so `nan`, `inf`, `1e308` or an integer past what C code takes is
refused with one sentence that quotes the value as it was typed. No torch: the CLI parses with this.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

# The largest integer a C `int` holds: the ceiling of integer options that have no smaller natural one.
INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class Number:
    """A number rule: whole or not, with bounds. Called with the text of an argparse option, it returns the value
    or raises ArgumentTypeError; `parse` raises ValueError (for parsers of other syntaxes)."""

    integer: bool = False
    low: float | None = None
    high: float | None = None
    low_excluded: bool = False  # `low` itself is refused: "more than 0"

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        low, high = (None if b is None else _show(b) for b in (self.low, self.high))
        if low is not None and high is not None and not self.low_excluded:
            return f"{kind} from {low} to {high}"
        bounds = [f"more than {low}" if self.low_excluded else f"at least {low}"] if low is not None else []
        bounds += [f"at most {high}"] if high is not None else []
        return f"{kind} {' and '.join(bounds)}".strip()

    def parse(self, text: str) -> int | float:
        value = _convert(text.strip(), self.integer)
        if value is None or not self._inside(value):
            raise ValueError(f"{typed(text)} is not {self.describe()}")
        return value

    def _inside(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_excluded and value == self.low)):
            return False
        return self.high is None or value <= self.high

    def __call__(self, text: str) -> int | float:
        try:
            return self.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc


def _convert(text: str, integer: bool) -> int | float | None:
    """The number in `text`, None when it is none or not finite (nan, inf, 1e400)."""
    try:
        value = int(text) if integer else float(text)
    except ValueError:  # also an integer of more than 4300 digits
        return None
    return value if integer or math.isfinite(value) else None


def _show(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def integer(low: int = 0, high: int = INT_MAX) -> Number:
    """A whole number from `low` to `high`."""
    return Number(integer=True, low=low, high=high)


def real(low: float | None = None, high: float | None = None, *, low_excluded: bool = False) -> Number:
    """A finite number within the bounds given (`low_excluded`: more than `low`)."""
    return Number(low=low, high=high, low_excluded=low_excluded)


def shown(value: float) -> str:
    """A number as short as it can be written and still read back the same: 2, 2.5, 2.0000001 (never the
    rounded `2` of `:g` for a value just above 2, which made messages contradict themselves)."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def typed(text: str) -> str:
    """The text a person typed, quoted for a message; shortened when it runs to hundreds of characters."""
    return repr(text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)")
