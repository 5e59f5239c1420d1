"""Ctrl-C / SIGTERM in long jobs: stop at a unit-of-work boundary, never inside a write.

From the first line of `benco` on, SIGTERM is Ctrl-C (`interrupts_raise`), so either one
arriving while the command still starts (imports) ends it with one line too. The first signal
asks the job to stop after its current unit (a batch); a second one stops it at once
(KeyboardInterrupt), except inside a `critical()` section (writing a batch's records), where it
is held until the section ends. The job then reports what is done and how to resume.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator


class StopRequest:
    """Installed as the SIGINT / SIGTERM handler while a job runs."""

    def __init__(self, unit: str = "batch") -> None:
        self.unit = unit
        self.requested = False
        self._critical = False
        self._raise_pending = False

    def __call__(self, signum, frame) -> None:
        if not self.requested:
            self.requested = True
            print(f"\n{signal.Signals(signum).name}: stopping after the current {self.unit} "
                  "(send it again to stop now)", file=sys.stderr, flush=True)
            return
        if self._critical:
            self._raise_pending = True
            return
        raise KeyboardInterrupt

    @contextmanager
    def critical(self) -> Iterator[None]:
        """A section that a second signal does not cut (it takes effect right after)."""
        self._critical = True
        try:
            yield
        finally:
            self._critical = False
        if self._raise_pending:
            raise KeyboardInterrupt


def raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextmanager
def interrupts_raise() -> Iterator[None]:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt while the block runs (main thread only), whatever
    handlers the process had before (a fresh interpreter raises on Ctrl-C only; a host process may
    have replaced that)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, raise_keyboard_interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def stop_on_signal(unit: str = "batch") -> Iterator[StopRequest]:
    """Handle SIGINT and SIGTERM with a StopRequest while the block runs (main thread only;
    elsewhere signals keep their handlers and `requested` stays False)."""
    stop = StopRequest(unit)
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
