"""No function in the package is longer than 60 lines (a function that long does several things: split it)."""

from __future__ import annotations

import ast
from pathlib import Path

import spectraframe

PACKAGE = Path(spectraframe.__file__).parent
MAX_LINES = 60
# Functions allowed to be longer, with the reason; empty: none is.
ALLOWED: dict[str, str] = {}


def long_functions(source: str, max_lines: int = MAX_LINES) -> list[tuple[str, int]]:
    """(name, lines) of every function or method, nested ones included, longer than `max_lines`, decorators and
    docstring included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            lines = node.end_lineno - first + 1
            if lines > max_lines:
                found.append((node.name, lines))
    return found


def test_no_function_is_over_60_lines() -> None:
    too_long = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name, lines in long_functions(path.read_text(encoding="utf-8")):
            key = f"{path.relative_to(PACKAGE).as_posix()}:{name}"
            if key not in ALLOWED:
                too_long[key] = lines
    assert too_long == {}, f"split these into functions of at most {MAX_LINES} lines"


def test_a_long_function_is_found() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    source = f"def short():\n    return 1\n\n\n@staticmethod\ndef long():\n{body}\n"
    assert long_functions(source) == [("long", 63)]
