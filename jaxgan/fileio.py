"""Atomic file writes: a reader, or a crash, sees the old file or the whole new one.

Every file jaxgan writes that another process may read while it is written (results,
caches, converted weights) goes through `write_atomic`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from typing import IO, Any

import numpy as np


def write_atomic(path: str, write: Callable[[IO], None], mode: str = "wb") -> str:
  """Calls write(file) on a temporary file beside `path`, then renames it onto `path`.

  The content is flushed to disk before the rename (os.replace is atomic on POSIX);
  concurrent writers each use their own temporary file and the last rename wins. The
  directory is created if missing; on any exception (KeyboardInterrupt too) the
  temporary file is removed and `path` is left as it was. Returns `path`.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
  try:
    # mkstemp creates the file owner-only; outputs are as readable as any other file.
    os.chmod(tmp, 0o644)
    with os.fdopen(fd, mode) as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  return path


def write_json_atomic(path: str, obj: Any, *, indent: int = 2) -> str:
  """`obj` as JSON (no NaN or inf: they are not JSON) at `path`, atomically."""
  text = json.dumps(obj, indent=indent, allow_nan=False)
  return write_atomic(path, lambda f: f.write(text), mode="w")


def save_npz_atomic(path: str, arrays: dict[str, Any]) -> str:
  """np.savez of `arrays` (uncompressed) at `path`, atomically."""
  return write_atomic(path, lambda f: np.savez(f, **arrays))
