"""The subcommands of `spectraframe`, one module each, and the options several of them share."""

from __future__ import annotations

import argparse

from spectraframe.upscale.weights import MODELS  # no torch: the names only


def add_model_arguments(group: argparse._ActionsContainer, weights_help: str) -> None:
    """--model NAME (a shipped model chosen by footage) and --weights FILE, in a group where they exclude each other.
    An unknown --model is refused when the command runs, with the list of models (`model_weights_path`)."""
    group.add_argument("--model", metavar="NAME",
                       help=f"a shipped model: {', '.join(MODELS)} (`spectraframe models` says which to use when)")
    group.add_argument("--weights", help=weights_help)
