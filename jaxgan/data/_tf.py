"""Imports TensorFlow for the input pipeline with accelerators hidden from it.

TensorFlow only feeds the host here; if it saw a GPU it would reserve most of its
memory before JAX gets any. Every module of `jaxgan.data` that needs TF imports it
from here, so importing only the toy datasets never loads TF at all.
"""

import contextlib
import os
import sys

from absl import logging


@contextlib.contextmanager
def _quiet_native_stderr():
  """Hides what TF's C++ code writes to stderr while it starts (a oneDNN notice,
  twice), which TF_CPP_MIN_LOG_LEVEL no longer silences. Python errors still show:
  they are raised, not written here."""
  if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") == "0":
    yield
    return
  sys.stderr.flush()
  saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, 2)
  try:
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)


with _quiet_native_stderr():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

try:
  tf.config.set_visible_devices([], "GPU")
except RuntimeError as e:  # TF already initialised its devices elsewhere.
  logging.warning("could not hide GPUs from TensorFlow: %s", e)

__all__ = ["tf"]
