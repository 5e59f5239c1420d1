"""`benco`: the parser assembled from the subcommands' modules, and one error policy for all.

IMDL-BenCo's own subcommands (`init`, `env`) and `-v/--version` are delegated to
`IMDLBenCo.cli.main` unchanged; every other subcommand is a module of this package with `HELP`,
`add_arguments(parser)` and `run(args) -> exit code`. Only the subcommand being run gets its
flags (they import the config dataclasses, and so torch): `benco --help` stays instant. Bad input
gets one line on stderr and exit code 2 (codes in `imdl_sigma.errors`), a traceback only with
`--debug`; dependencies' warnings only with `--verbose`.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from ..console import one_line, quiet_dependencies
from ..errors import BadInputError, JobInterrupted, SigmaError
from ..interrupt import interrupts_raise
from . import annotate, bench, corpus, demo, finetune, ground, parse, synth, train
from .options import check_weight_options

UPSTREAM_COMMANDS = {"init": "IMDL-BenCo: create its scripts and configs here (delegated)",
                     "env": "IMDL-BenCo: show environment information (delegated)"}
COMMANDS = {"demo": demo, "train": train, "annotate": annotate, "ground": ground, "finetune": finetune,
            "bench": bench, "parse": parse, "corpus": corpus, "synth": synth}


class BencoParser(argparse.ArgumentParser):
    """Usage errors in one line too (the usage itself is in --help); subcommands inherit it."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line (`command` None), or the subcommands listed with only `command`'s flags."""
    parser = BencoParser(
        prog="benco",
        description="IMDL-BenCo command line with the imdl-sigma plugin (SIGMA edit-mask annotator).",
    )
    parser.add_argument("-v", "--version", action="store_true", help="IMDL-BenCo's version check (delegated)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in UPSTREAM_COMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    for name, module in COMMANDS.items():
        command_parser = sub.add_parser(name, help=module.HELP)
        if command in (None, name):
            module.add_arguments(command_parser)
            command_parser.set_defaults(func=module.run)
    add_global_flags(parser)
    return parser


def add_global_flags(parser: argparse.ArgumentParser, top: bool = True) -> None:
    """--debug / --verbose on the command and on every subcommand of ours (either place works)."""
    default = False if top else argparse.SUPPRESS  # a subcommand must not reset the top-level value
    parser.add_argument("--debug", action="store_true", default=default,
                        help="on an error, show the traceback instead of one line")
    parser.add_argument("--verbose", action="store_true", default=default,
                        help="show the warnings of dependencies (hidden otherwise)")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if name not in UPSTREAM_COMMANDS:
                    add_global_flags(sub, top=False)


def delegate_upstream(argv: list[str]) -> int:
    from IMDLBenCo.cli import main as upstream_main

    saved = sys.argv
    sys.argv = ["benco", *argv]
    try:
        upstream_main()
    finally:
        sys.argv = saved
    return 0


def main(argv: list[str] | None = None) -> int:
    """`benco ARGV`: an exit code, and at most one line on stderr (for Ctrl-C / SIGTERM from the start)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    with interrupts_raise():  # before the imports that building the parser starts
        if argv and (argv[0] in UPSTREAM_COMMANDS or argv[0] in ("-v", "--version")):
            return delegate_upstream(argv)
        command = next((arg for arg in argv if not arg.startswith("-")), None)  # global flags take no value
        try:
            parser = build_parser(command if command in COMMANDS else "")  # "": the subcommands listed only
            args = parser.parse_args(argv)
        except KeyboardInterrupt:
            print(f"benco{f' {command}' if command in COMMANDS else ''}: interrupted while starting; nothing was done",
                  file=sys.stderr)
            return JobInterrupted.exit_code
        if args.command is None:
            parser.print_help()
            return 0
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        with quiet_dependencies(enabled=not args.verbose):
            return run_command(args, argv)


def resume_command(args, argv: list[str]) -> str | None:
    """The command line that continues an interrupted job, or None where there is nothing to resume."""
    rerun = ["benco", *argv]
    if args.command == "annotate":
        return shlex.join(rerun + ([] if args.resume else ["--resume"]))
    if args.command in ("demo", "synth", "ground") or getattr(args, "corpus_command", None) == "export":
        return shlex.join(rerun)  # these keep finished work and skip it on a rerun
    last = {"train": "last.pt", "finetune": "checkpoint-last.pth"}.get(args.command)
    if last and (Path(args.out) / last).is_file():
        without = [a for i, a in enumerate(argv) if a != "--resume" and (i == 0 or argv[i - 1] != "--resume")]
        return shlex.join(["benco", *without, "--resume", str(Path(args.out) / last)])
    return None


def interrupted_message(args, argv: list[str], stop: JobInterrupted | None) -> str:
    done = f", {stop}" if stop is not None else ""
    again = resume_command(args, argv)
    return f"benco {args.command}: interrupted{done}" + (f"; continue with: {again}" if again else "")


def run_command(args, argv: list[str]) -> int:
    """args.func under the error policy: an exit code and at most one line on stderr."""
    try:
        check_weight_options(args)
        return args.func(args)
    except (JobInterrupted, KeyboardInterrupt) as stop:
        if args.debug:
            raise
        print(interrupted_message(args, argv, stop if isinstance(stop, JobInterrupted) else None),
              file=sys.stderr)
        return JobInterrupted.exit_code
    except SigmaError as err:
        if args.debug:
            raise
        print(f"benco {args.command}: error: {one_line(str(err))}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # a path that cannot be read or written (permissions, full disk, ...)
        if args.debug or err.filename is None:
            raise
        print(f"benco {args.command}: error: {err.filename}: {err.strerror}", file=sys.stderr)
        return BadInputError.exit_code
    except Exception as err:  # a defect, or bad input not checked yet: still one line without --debug
        if args.debug:
            raise
        print(f"benco {args.command}: internal error: {err.__class__.__name__}: {one_line(str(err))} "
              "(rerun with --debug for the traceback, and please report it)", file=sys.stderr)
        return 1
