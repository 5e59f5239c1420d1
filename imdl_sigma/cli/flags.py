"""Flags generated from the fields of config dataclasses and from functions' keyword arguments.

A field becomes `--field-name`: its type gives the flag's type (a `Literal` its choices, a
fixed-length tuple its number of values, a bool a switch), its default and its comment in the
source give the help. A flag's value is None until it is given, so the dataclass (or the
function) keeps its own default: a default is stated once, where it is used. A flag whose name
is already on the parser is shared (one `--batch-size` for every config of a command). Fields
that no flag can carry (dicts, nested configs) are set with `--set KEY=VALUE`.

Values are checked where they are parsed (a usage error: one line, exit 2): a number against its
`Range` (`RANGES`; any other number must be ≥ 0), `--device` against the devices there are.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import json
import math
import re
import textwrap
import tokenize
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import BadInputError

FIELD_LINE = re.compile(r"\s*(\w+)\s*:")


@dataclass(frozen=True)
class Range:
    """The values a numeric option accepts: low ≤ value ≤ high (high None: no bound; `open_low`: low < value)."""

    low: float = 0
    high: float | None = None
    open_low: bool = False

    def parser(self, kind: type) -> Callable[[str], int | float]:
        """An argparse `type`: text → a number of `kind` in range, else a one-line usage error."""
        def parse(text: str):
            try:
                value = kind(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                                 f"got '{text}'") from None
            if not math.isfinite(value) or not self.holds(value):
                raise argparse.ArgumentTypeError(f"must be {self}, got {text}")
            return value

        return parse

    def holds(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        return above and (self.high is None or value <= self.high)

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.open_low else '≥'} {self.low:g}"
        return f"in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}]"


COUNT = Range(1)  # sizes, counts and periods: 0 would mean nothing to do, or a division by zero
FRACTION = Range(0, 1)  # shares, areas, thresholds, probabilities
# Accepted values of numeric options, by field (or parameter) name, or by "Owner.name" where one
# name means different things (TrainConfig.eval_every divides; FinetuneConfig's 0 means never).
# Every other int or float option accepts any value ≥ 0.
RANGES = {
    **dict.fromkeys(("batch_size", "n", "epochs", "size", "image_size", "map_size", "sam_image_size", "max_boxes",
                     "sam_box_chunk", "write_threads", "grad_accum", "accum_iter", "limit", "holdout_every",
                     "save_every_steps", "log_images_every", "dis_max_vectors", "max_image_pixels",
                     "TrainConfig.eval_every"), COUNT),
    **dict.fromkeys(("min_area", "max_area", "min_quality", "empty_share", "splice_share", "small_share", "small_area",
                     "box_threshold", "text_threshold", "nms_iou", "pseudo_high", "pseudo_low", "ema_decay",
                     "warmup_start", "epsilon", "betas"), FRACTION),
    "crop_scale": Range(0, 1, open_low=True), "temperature": Range(0, open_low=True),
    "max_aspect": Range(1), "max_aspect_change": Range(1), "jpeg_quality": Range(1, 100),
}


def device_name(text: str) -> str:
    """An argparse `type` for --device: cpu, or cuda[:N] where such a GPU is present."""
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a device; use cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return text
    if device.type != "cuda":
        raise argparse.ArgumentTypeError(f"'{text}': only cpu and cuda devices are supported")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise argparse.ArgumentTypeError(f"'{text}': no CUDA GPU is available here; use --device cpu")
    if device.index is not None and device.index >= count:
        raise argparse.ArgumentTypeError(f"'{text}': there is no GPU {device.index} (GPUs here: 0–{count - 1})")
    return text


# Options whose text is checked by an argparse `type` of its own, by name.
VALUE_TYPES = {"device": device_name}


@dataclass
class Option:
    """One keyword: a dataclass field or a function parameter of `owner` (a class or function name)."""

    name: str
    kind: Any  # the resolved type annotation
    default: Any
    help: str = ""
    owner: str = ""

    def value_range(self) -> Range:
        return RANGES.get(f"{self.owner}.{self.name}", RANGES.get(self.name, Range()))


def field_comments(cls: type) -> dict[str, str]:
    """{field: its comment}: the comment ending the field's line, else the comments right above it."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    comments: dict[int, str] = {}
    trailing: set[int] = set()
    in_strings: set[int] = set()  # rows that continue a string literal begun above (docstrings)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        row = token.start[0]
        if token.type == tokenize.COMMENT:
            comments[row] = token.string.lstrip("#").strip()
            if lines[row - 1][:token.start[1]].strip():
                trailing.add(row)
        elif token.type == tokenize.STRING:
            in_strings.update(range(row + 1, token.end[0] + 1))
    fields = {item.name for item in dataclasses.fields(cls)}
    helps, above = {}, []
    for row, line in enumerate(lines, start=1):
        if row in comments and row not in trailing:
            above.append(comments[row])
            continue
        match = FIELD_LINE.match(line)
        if match and match.group(1) in fields and row not in in_strings and match.group(1) not in helps:
            helps[match.group(1)] = comments[row] if row in trailing else " ".join(above)
        if line.strip():
            above = []
    return helps


def dataclass_options(cls: type) -> list[Option]:
    hints, comments = typing.get_type_hints(cls), field_comments(cls)
    options = []
    for item in dataclasses.fields(cls):
        if item.default is not dataclasses.MISSING:
            default = item.default
        elif item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        else:
            default = None
        options.append(Option(item.name, hints[item.name], default, comments.get(item.name, ""), cls.__name__))
    return options


def signature_options(function: Callable, names: tuple[str, ...], helps: dict[str, str]) -> list[Option]:
    """Options for the keyword arguments `names` of `function`, with their defaults."""
    hints, parameters = typing.get_type_hints(function), inspect.signature(function).parameters
    return [Option(name, hints[name], parameters[name].default, helps.get(name, ""), function.__qualname__)
            for name in names]


def flag_keywords(kind, default, value_range: Range = Range()) -> dict | None:
    """argparse keywords for a value of type `kind` (a number checked against `value_range`), or
    None where no flag can carry it."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and len(args) == 1:
        return flag_keywords(args[0], default, value_range)
    if typing.get_origin(kind) is typing.Literal:
        return {"choices": args, "type": type(args[0])}
    if kind is bool:  # a switch; one that is on by default is turned off with --no-NAME
        return {"action": argparse.BooleanOptionalAction if default else "store_true"}
    if kind in (int, float):
        return {"type": value_range.parser(kind)}
    if kind is str:
        return {"type": kind}
    if isinstance(default, tuple) and default:
        element = type(default[0])
        return {"type": value_range.parser(element) if element in (int, float) else element, "nargs": len(default)}
    return None


def flag_name(name: str, flags: dict[str, str]) -> str:
    return "--" + flags.get(name, name).replace("_", "-")


def add_options(parser, options: list[Option], flags: dict[str, str] | None = None,
                helps: dict[str, str] | None = None) -> None:
    """Add a flag per option (`flags`: option → flag name other than its own, its dest too).

    An option whose flag is already on the parser shares it; an option no flag can carry is left out."""
    flags, helps = flags or {}, helps or {}
    for option in options:
        flag = flag_name(option.name, flags)
        keywords = flag_keywords(option.kind, option.default, option.value_range())
        if flag in parser._option_string_actions or keywords is None:
            continue
        if option.name in VALUE_TYPES:
            keywords["type"] = VALUE_TYPES[option.name]
        shown = " ".join(map(str, option.default)) if isinstance(option.default, tuple) else option.default
        suffix = "" if shown is None or shown is False or shown == "" else f"(default: {shown})"
        text = " ".join(part for part in (helps.get(option.name, option.help), suffix) if part)
        parser.add_argument(flag, dest=flag[2:].replace("-", "_"), default=None, help=text.replace("%", "%%"),
                            **keywords)


def given_options(args: argparse.Namespace, names, flags: dict[str, str] | None = None) -> dict:
    """{option: value} of the options `names` that the command line gave (lists as tuples)."""
    values = {name: getattr(args, flag_name(name, flags or {})[2:].replace("-", "_"), None) for name in names}
    return {name: tuple(value) if isinstance(value, list) else value
            for name, value in values.items() if value is not None}


class ConfigFlags:
    """The flags of one config dataclass (all its fields a flag can carry, but `skip`), and the
    config the command line gives."""

    def __init__(self, cls: type, flags: dict[str, str] | None = None, skip: tuple[str, ...] = (),
                 helps: dict[str, str] | None = None) -> None:
        self.cls, self.flags, self.helps = cls, flags or {}, helps or {}
        self.options = [option for option in dataclass_options(cls) if option.name not in skip]

    def add(self, parser) -> None:
        add_options(parser, self.options, self.flags, self.helps)

    def given(self, args: argparse.Namespace) -> dict:
        """{field: value} of the flags the command line gave."""
        return given_options(args, [option.name for option in self.options], self.flags)

    def build(self, args: argparse.Namespace, **fixed):
        """The config: given flags over the dataclass's defaults; `fixed` fields as passed."""
        return self.cls(**{**self.given(args), **fixed})


def parse_pairs(items: list[str] | None, flag: str) -> dict[str, str]:
    """Repeated `--flag NAME=VALUE` options → {NAME: VALUE}."""
    pairs = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise BadInputError(f"{flag} expects NAME=VALUE, got '{item}'")
        pairs[key.strip()] = value.strip()
    return pairs


def json_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def add_set_flag(parser, example: str) -> None:
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help=f"config override of a field without its own flag, e.g. {example}")


def overrides(args: argparse.Namespace, flag: str = "--set") -> dict[str, Any]:
    """`--set KEY=VALUE` (or another such `flag`) options → {dotted key: JSON value (else the text)}."""
    items = getattr(args, flag.lstrip("-").replace("-", "_"))
    return {key: json_value(value) for key, value in parse_pairs(items, flag).items()}

