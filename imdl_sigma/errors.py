"""Errors that the command line turns into one line on stderr and an exit code.

Exit codes of every `benco` subcommand: 0 done (some pairs may have failed: the count and the
errors file are printed), 1 the job ran but nothing succeeded, 2 bad input (nothing was done),
130 interrupted (Ctrl-C / SIGTERM; what is finished is kept and the resume command printed).
"""


class SigmaError(Exception):
    """Base class: a user-facing problem (bad input, missing file or weights)."""

    exit_code = 2


class MissingWeightsError(SigmaError):
    """Pretrained weights that a component needs are not on this machine."""


class BadInputError(SigmaError):
    """An input file, image or manifest line that cannot be used."""


class UnknownConfigKeyError(BadInputError, KeyError):
    """A config field, override key or preset that does not exist (a KeyError to Python callers)."""

    def __str__(self) -> str:
        return str(self.args[0])


class JobFailedError(SigmaError):
    """The job ran, but nothing succeeded (e.g. every pair of a manifest failed)."""

    exit_code = 1


class JobInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a job after its last finished unit of work was saved (still an
    interrupt to callers: `except Exception` does not swallow it)."""

    exit_code = 130

    def __init__(self, done: int, total: int | None = None, unit: str = "pairs") -> None:
        self.done, self.total, self.unit = done, total, unit
        of = f" of {total}" if total is not None else ""
        super().__init__(f"{done}{of} {unit} done")
