"""Flags generated from config dataclasses: defaults stay the dataclasses', flags reach the
configs, and only the subcommand being run gets (and imports) its flags."""

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from imdl_sigma.cli.flags import ConfigFlags, Range, field_comments
from imdl_sigma.cli.main import COMMANDS, build_parser

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Example:
    """A docstring line that reads like a field:
    size: not a comment
    """

    # above the field
    # on two lines
    size: int = 4
    rate: float = 0.5  # trailing
    mode: Literal["fast", "exact"] = "fast"
    on: bool = True
    off: bool = False
    span: tuple = (1.0, 2.0)
    table: dict = None  # no flag carries a dict


def parse(flags: ConfigFlags, argv: list[str]):
    import argparse

    parser = argparse.ArgumentParser()
    flags.add(parser)
    return parser, parser.parse_args(argv)


def test_help_comes_from_the_fields_comments():
    comments = field_comments(Example)
    assert comments["size"] == "above the field on two lines"
    assert comments["rate"] == "trailing"
    assert comments["mode"] == ""
    assert comments["table"] == "no flag carries a dict"


def test_absent_flags_keep_the_dataclass_defaults():
    flags = ConfigFlags(Example)
    _, args = parse(flags, [])
    assert flags.given(args) == {}
    assert flags.build(args) == Example()


def test_given_flags_reach_the_config_with_their_types():
    flags = ConfigFlags(Example)
    parser, args = parse(flags, ["--size", "7", "--rate", "0.25", "--mode", "exact", "--no-on", "--off",
                                 "--span", "3", "4"])
    assert flags.build(args) == Example(size=7, rate=0.25, mode="exact", on=False, off=True, span=(3.0, 4.0))
    assert "--table" not in parser._option_string_actions
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "slow"])


def test_a_flag_already_on_the_parser_is_shared():
    import argparse

    parser = argparse.ArgumentParser()
    ConfigFlags(Example).add(parser)
    ConfigFlags(Example, flags={"rate": "rate"}).add(parser)  # the same names again: no conflict
    assert parser.parse_args(["--rate", "2"]).rate == 2.0


@pytest.mark.parametrize("argv, config", [
    (["annotate", "--pairs", "p", "--out", "o"], "annotate"),
    (["synth", "--out", "o", "--n", "1"], "synth"),
    (["train", "--pairs", "p", "--out", "o"], "train"),
])
def test_commands_without_flags_build_the_default_configs(argv, config):
    from imdl_sigma.annotation.annotate import AnnotateConfig
    from imdl_sigma.cli import annotate, synth, train
    from imdl_sigma.synth.generator import SynthConfig
    from imdl_sigma.training.loop import TrainConfig
    from imdl_sigma.training.stage2 import Stage2Config

    args = build_parser(argv[0]).parse_args(argv)
    if config == "annotate":
        job, filters = annotate.annotate_flags()
        assert job.build(args, parser="rules", filters=filters.build(args)) == AnnotateConfig()
    elif config == "synth":
        assert synth.synth_flags().build(args) == SynthConfig()
    else:
        assert train.train_flags().build(args) == TrainConfig()
        assert train.stage2_flags().build(args) == Stage2Config()


def test_flags_reach_nested_configs():
    from imdl_sigma.cli import annotate

    args = build_parser("annotate").parse_args(["annotate", "--pairs", "p", "--out", "o", "--filter", "flag",
                                                "--min-area", "0.01", "--batch-size", "3", "--precision", "fp32"])
    job, filters = annotate.annotate_flags()
    config = job.build(args, parser="rules", filters=filters.build(args))
    assert (config.batch_size, config.precision, config.filters.action, config.filters.min_area) == (
        3, "fp32", "flag", 0.01)


def test_every_subcommand_builds_on_its_own():
    for name in COMMANDS:
        parser = build_parser(name)
        with pytest.raises(SystemExit):
            parser.parse_args([name, "--help"])


def test_parsing_an_instruction_imports_no_torch():
    code = "import sys; from imdl_sigma.cli import main; main(['parse', 'remove the cat']); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False"


def options_of_every_command(monkeypatch) -> list:
    """Every Option that any subcommand turns into a flag (recorded while the parsers are built)."""
    import imdl_sigma.cli.flags as flags

    seen, add_options = [], flags.add_options

    def record(parser, options, *args, **kwargs):
        seen.extend(options)
        return add_options(parser, options, *args, **kwargs)

    monkeypatch.setattr(flags, "add_options", record)
    for module in COMMANDS.values():
        if hasattr(module, "add_options"):
            monkeypatch.setattr(module, "add_options", record)
    for name in COMMANDS:
        build_parser(name)
    return seen


def test_every_numeric_default_lies_in_its_flags_range(monkeypatch):
    options = options_of_every_command(monkeypatch)
    numbers = [(option, value) for option in options
               for value in (option.default if isinstance(option.default, tuple) else (option.default,))
               if isinstance(value, (int, float)) and not isinstance(value, bool)]
    assert len(numbers) > 50  # the configs' numbers are all seen
    outside = [(option.owner, option.name, value) for option, value in numbers if not option.value_range().holds(value)]
    assert outside == []


@pytest.mark.parametrize("value_range, kind, text, parsed_or_error", [
    (Range(1), int, "3", 3),
    (Range(1), int, "0", "must be ≥ 1, got 0"),
    (Range(0, 1), float, "1", 1.0),
    (Range(0, 1), float, "1.01", "must be in [0, 1], got 1.01"),
    (Range(0, open_low=True), float, "0", "must be > 0, got 0"),
    (Range(0, 1, open_low=True), float, "0", "must be in (0, 1], got 0"),
    (Range(), float, "nan", "must be ≥ 0, got nan"),
    (Range(), int, "2.5", "expected an integer, got '2.5'"),
])
def test_a_range_parses_numbers_and_names_the_bound(value_range, kind, text, parsed_or_error):
    import argparse

    parse = value_range.parser(kind)
    if isinstance(parsed_or_error, str):
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(parsed_or_error)):
            parse(text)
    else:
        assert parse(text) == parsed_or_error and type(parse(text)) is kind


def test_owner_specific_ranges_win_over_the_name():
    from imdl_sigma.cli.flags import Option

    assert Option("eval_every", int, 1, owner="TrainConfig").value_range() == Range(1)  # divides the epoch
    assert Option("eval_every", int, 0, owner="FinetuneConfig").value_range() == Range()  # 0: never
