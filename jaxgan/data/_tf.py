"""Imports TensorFlow for the input pipeline with accelerators hidden from it.

TensorFlow only feeds the host here; if it saw a GPU it would reserve most of its
memory before JAX gets any. Every module of `jaxgan.data` that needs TF imports it
from here, so importing only the toy datasets never loads TF at all.
"""

import contextlib
import os

from absl import logging

from jaxgan import quiet

# TF's C++ start-up lines (a oneDNN notice, twice) ignore TF_CPP_MIN_LOG_LEVEL;
# keep them off the terminal unless the user asked for TF's logs.
with (quiet.native_output(2) if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") != "0"
      else contextlib.nullcontext()):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

try:
  tf.config.set_visible_devices([], "GPU")
except RuntimeError as e:  # TF already initialised its devices elsewhere.
  logging.warning("could not hide GPUs from TensorFlow: %s", e)

__all__ = ["tf"]
