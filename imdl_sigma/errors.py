"""Errors that the command line turns into one clear message and exit code 2."""


class SigmaError(Exception):
    """Base class: a user-facing problem (bad input, missing file or weights)."""


class MissingWeightsError(SigmaError):
    """Pretrained weights that a component needs are not on this machine."""


class BadInputError(SigmaError):
    """An input file, image or manifest line that cannot be used."""
