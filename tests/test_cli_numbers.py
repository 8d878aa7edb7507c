"""One parser for the numbers people type: every numeric option of every command goes through it, and `nan`,
`inf`, `1e308` or an integer past a C int is refused in one `error:` sentence (exit 2), never a traceback."""

from __future__ import annotations

import argparse

import pytest

from spectraframe.cli import build_parser
from spectraframe.cli_numbers import INT_MAX, Number, integer, real, shown


def numeric_options() -> list[tuple[str, argparse.Action]]:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [(name, action) for name, sub in commands.choices.items() for action in sub._actions
            if action.type in (int, float) or isinstance(action.type, Number)]


def test_every_numeric_option_uses_the_validated_parser():
    options = numeric_options()
    assert len(options) >= 20
    plain = [f"{name} {action.option_strings[0]}" for name, action in options
             if not isinstance(action.type, Number) and action.choices is None]
    assert plain == []  # a plain int or float would let nan, inf and 1e308 through


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e308", "99999999999999999999", "1e3x", ""])
def test_numbers_that_are_not_numbers_are_refused_by_every_option(text, capsys):
    for name, action in numeric_options():
        if action.choices is not None:
            continue
        if text in ("1e308", "99999999999999999999") and not action.type.integer and action.type.high is None:
            continue  # finite and above every low bound: the option's own check (e.g. network scale) answers
        with pytest.raises(SystemExit) as exit:
            build_parser().parse_args([name, f"{action.option_strings[0]}={text}", *_required(name)])
        err = capsys.readouterr().err
        assert exit.value.code == 2, (name, action.option_strings)
        assert f"error: argument {'/'.join(action.option_strings)}: {text!r} is not" in err, err


def _required(command: str) -> list[str]:
    return {"upscale": ["in.mp4"], "eval": ["--data", "d"], "flow": ["a", "b", "-o", "c.png"],
            "export": ["--onnx", "x"], "prepare": ["v.mp4", "-o", "o"]}.get(command, [])


def test_bounds_integers_and_the_value_as_typed():
    assert integer(1, 65535)("8080") == 8080 and isinstance(integer()("7"), int)
    assert real(0, 1)("0.5") == 0.5
    for rule, text, message in [
        (integer(1, 65535), "70000", "'70000' is not a whole number from 1 to 65535"),
        (integer(1), "2.5", "'2.5' is not a whole number from 1 to 2147483647"),
        (integer(1), str(INT_MAX + 1), "is not a whole number from 1 to 2147483647"),
        (real(0, low_excluded=True), "0", "'0' is not a number more than 0"),
        (real(0, 1), "nan", "'nan' is not a number from 0 to 1"),
        (integer(0), "9" * 5000, "'99999999999999999999...(5000 characters)' is not a whole number"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
            rule(text)
    assert [shown(v) for v in (2.0, 2.5, 2.0000001, 1e-7)] == ["2", "2.5", "2.0000001", "1e-07"]


def test_a_refusal_is_one_error_line_with_exit_2(capsys):
    from spectraframe.cli import main

    with pytest.raises(SystemExit) as exit:
        main(["serve", "--max-upload-mb", "1e308"])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and "Traceback" not in err
    assert err.splitlines() == [
        "spectraframe serve: error: argument --max-upload-mb: '1e308' is not a number more than 0 and at most 1000000 "
        "(`spectraframe serve --help` lists the options)"]
