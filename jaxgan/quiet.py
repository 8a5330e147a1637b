"""Keeping native libraries' start-up chatter off the user's terminal.

Some C++ code writes straight to the process's stdout or stderr file descriptors,
past Python's logging: TensorFlow's oneDNN notice at import (which
TF_CPP_MIN_LOG_LEVEL no longer silences) and gloo's "[Gloo] Rank 0 is connected
to 1 peer ranks" whenever a multi-process run opens a new communicator. Python
exceptions are unaffected: they are raised, not written there.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys


@contextlib.contextmanager
def native_output(fd: int):
  """Discards what is written to file descriptor `fd` (1 or 2) inside the block."""
  (sys.stdout if fd == 1 else sys.stderr).flush()
  saved, devnull = os.dup(fd), os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, fd)
  try:
    yield
  finally:
    os.dup2(saved, fd)
    os.close(saved)
    os.close(devnull)


def native_stdout_off() -> None:
  """From now on only Python writes reach stdout; native code's writes to fd 1 are
  discarded (gloo's connection lines, over the whole of a multi-process run)."""
  sys.stdout.flush()
  python_stdout = os.dup(1)
  devnull = os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, 1)
  os.close(devnull)
  sys.stdout = io.TextIOWrapper(os.fdopen(python_stdout, "wb"), line_buffering=True)
