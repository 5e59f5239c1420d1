"""Write a benchmark's figures into benchmarks/RESULTS.md, as one section it owns.

A section is delimited by `<!-- bench:NAME -->` markers; rerunning the benchmark replaces it, so
the file always shows the latest run with its exact command, date and machine.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import shlex
import sys
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, {device}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch threads")


def command_line() -> str:
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    program = f"python -m {spec.name}" if spec else shlex.quote(sys.argv[0])
    return " ".join([program, *(shlex.quote(arg) for arg in sys.argv[1:])])


def record(name: str, title: str, body: str, command: str | None = None, path: Path = RESULTS) -> None:
    """Replace (or append) section `name` of RESULTS.md with `body` under `title`."""
    section = (f"<!-- bench:{name} -->\n## {title}\n\n```\n{command or command_line()}\n```\n"
               f"{datetime.date.today().isoformat()} · {machine()}\n\n{body.strip()}\n<!-- /bench:{name} -->")
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Measured results\n"
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")
