"""The `spectraframe` command. Thin: each subcommand lives in `spectraframe.commands.<name>` and
calls library functions users can import themselves.

Parsing imports no torch (commands import what they need when they run): `--help` and argument errors come
back at once (benchmarks/cli_startup.py).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import re
import sys

from spectraframe import __version__
from spectraframe.allocator import keep_freed_memory
from spectraframe.errors import SpectraFrameError, did_you_mean
from spectraframe.paths import NAME_MAX, PATH_MAX, describe_long_path

# Each module defines `register(subparsers)`, which adds its parser and sets `func`.
COMMANDS = ["info", "models", "flow", "prepare", "train", "eval", "upscale", "preview", "export", "demo", "serve"]


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors are one sentence (no usage block above it) that suggests the closest name for a
    mistyped command or choice and points to --help."""

    def error(self, message: str):
        match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if match:
            choices = re.findall(r"'([^']*)'", match[2]) or [c.strip() for c in match[2].split(",")]
            message += did_you_mean(match[1], choices)
        self.exit(2, f"{self.prog}: error: {message} (`{self.prog} --help` lists the options)\n")


def _unknown_options_message(parser: argparse.ArgumentParser, extra: list[str]) -> str:
    """`unrecognized arguments: --modle (did you mean '--model'?)` with the command's own options."""
    known = [option for action in parser._actions for option in action.option_strings]
    hints = "".join(did_you_mean(item.split("=")[0], known) for item in extra if item.startswith("--"))
    return f"unrecognized arguments: {' '.join(extra)}{hints}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="spectraframe", description="Video super-resolution with RBPN.")
    parser.add_argument("-V", "--version", action="version", version=f"spectraframe {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"spectraframe.commands.{name}").register(subparsers)
    return parser


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse a command line. argparse fills a `nargs="*"` positional from one run of arguments only; the
    `section.key=value` overrides of `train` may come before, between and after its options."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "overrides") and all("=" in item and not item.startswith("-") for item in extra):
            args.overrides = [*args.overrides, *extra]
        else:
            command = _command_parser(parser, args.command)
            command.error(_unknown_options_message(command, extra))
    return args


def _command_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of subcommand `name` (its usage and options belong in its errors)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s: %(message)s"
    )
    keep_freed_memory()
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that went away shows here, not as a warning at exit
        return status
    except SpectraFrameError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`spectraframe models | head`): stop quietly, as other command-line tools do.
        # Python would report the pipe again when it flushes stdout at exit, so point stdout at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        # The commands check their paths up front (spectraframe.paths.check_path_length); a path that still
        # reaches a system call too long is one sentence too, before anything is written under it.
        print(f"error: {describe_long_path(exc.filename)}: the path or one of its names is too long for this system "
              f"(at most {NAME_MAX} bytes a name, {PATH_MAX} a path); choose a shorter one", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
