"""Imports TensorFlow for the input pipeline with accelerators hidden from it.

TensorFlow only feeds the host here; if it saw a GPU it would reserve most of its
memory before JAX gets any. Every module of `jaxgan.data` that needs TF imports it
from here, so importing only the toy datasets never loads TF at all.
"""

from absl import logging
import tensorflow as tf

try:
  tf.config.set_visible_devices([], "GPU")
except RuntimeError as e:  # TF already initialised its devices elsewhere.
  logging.warning("could not hide GPUs from TensorFlow: %s", e)

__all__ = ["tf"]
