"""The subcommands of `spectraframe`, one module each, and the options several of them share."""

from __future__ import annotations

import argparse

from spectraframe.cli_numbers import real
from spectraframe.zoo import blendable_models, load_zoo  # no torch


def add_model_arguments(group: argparse._ActionsContainer, files: str) -> None:
    """--model NAME (a shipped model chosen by footage) and --weights FILE (`files` says which kinds of file), in a
    group where they exclude each other. An unknown --model is refused when the command runs, with the list of
    models (`model_weights_path`)."""
    zoo = load_zoo()
    names = ", ".join(f"{name} (the default)" if name == zoo.default_model else name for name in zoo.names())
    group.add_argument("--model", metavar="NAME",
                       help=f"a shipped model: {names} (`spectraframe models` says which to use when)")
    group.add_argument("--weights", help=f"{files}, or a shipped model's name as --model takes it")


def add_strength_argument(parser: argparse.ArgumentParser) -> None:
    """--strength S: with --model of a fine-tune of the default (`blendable_models`), how far towards it (0 to 1)."""
    parser.add_argument("--strength", type=real(0, 1), metavar="S",
                        help=f"with --model {' or '.join(blendable_models())}: how far from the default towards that "
                             "model, 0 to 1 (default 1; e.g. 0.5 for half the perceptual model's texture, or half the "
                             "real model's smoothing of compression artefacts)")


def fps_argument(text: str):
    """argparse `type=` for a frame rate: `25` or `30000/1001`, more than 0, as a Fraction."""
    from fractions import Fraction

    try:
        fps = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"a frame rate looks like 25 or 30000/1001, not {text!r}") from None
    if not 0 < fps <= 1000:
        raise argparse.ArgumentTypeError(f"a frame rate must be more than 0 and at most 1000, got {text}")
    return fps
