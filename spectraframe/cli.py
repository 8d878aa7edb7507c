"""The `spectraframe` command. Thin: each subcommand lives in `spectraframe.commands.<name>` and
calls library functions users can import themselves."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from spectraframe.accelerate import keep_freed_memory
from spectraframe.errors import SpectraFrameError

# Each module defines `register(subparsers)`, which adds its parser and sets `func`.
COMMANDS = ["info", "flow", "prepare", "train", "eval", "upscale", "export", "demo"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spectraframe", description="Video super-resolution with RBPN.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"spectraframe.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s: %(message)s"
    )
    keep_freed_memory()
    try:
        return int(args.func(args) or 0)
    except SpectraFrameError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
