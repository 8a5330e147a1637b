"""Seeded FID Inception-v3 weights for tests and benchmarks (not Inception features).

Random weights drawn by NumPy from a seed, their BatchNorm statistics calibrated on
one batch of images, and the PyTorch state dict of any variables: what the golden
values (tests/inception_golden.json, written by benchmarks/references/fid_reference.py) and the
comparisons with pytorch-fid run on when the released weights are not at hand.
Features of random weights are not Inception features and their scores are not FID.

Besides these, the module re-exports jaxgan.eval.inception's public names, so a
script can read the network and its seeded weights through one name.
"""

from __future__ import annotations

import flax.linen as nn
from flax import traverse_util
import jax
import numpy as np

from jaxgan.eval import inception
# pylint: disable-next=wildcard-import,unused-wildcard-import
from jaxgan.eval.inception import *  # noqa: F401,F403


def seeded_variables(seed: int) -> dict:
  """Random FID Inception-v3 variables drawn by NumPy from `seed`, BatchNorm uncalibrated.

  For tests and the comparison with PyTorch only: features of random weights are not
  Inception features and their scores are not FID. Convolutions are He-normal, the
  linear layer LeCun-normal, BatchNorm scales U[0.5, 1.5] and biases N(0, 0.2^2) (so
  no layer is an identity), running statistics 0 and 1 until `calibrate_batch_norm`.
  Leaves are drawn in sorted path order from np.random.default_rng(seed), which is the
  same on every platform.
  """
  rng = np.random.default_rng(seed)
  flat = {}
  for path, shape in sorted(traverse_util.flatten_dict(inception.variable_shapes()).items()):
    shape = shape.shape
    leaf = path[-1]
    if leaf == "kernel":
      fan_in = int(np.prod(shape[:-1]))
      gain = 2.0 if len(shape) == 4 else 1.0  # He for ReLU convs, LeCun for the logits
      value = rng.standard_normal(shape) * np.sqrt(gain / fan_in)
    elif leaf == "scale":
      value = rng.uniform(0.5, 1.5, shape)
    elif leaf == "bias":
      value = 0.2 * rng.standard_normal(shape)
    elif leaf == "mean":
      value = np.zeros(shape)
    else:  # var
      value = np.ones(shape)
    flat[path] = value.astype(np.float32)
  return traverse_util.unflatten_dict(flat)


def calibration_pixels(seed: int, num: int, size: int = 64) -> np.ndarray:
  """uint8 [num, size, size, 3] images for BatchNorm calibration, from NumPy and `seed`.

  Half are scikit-learn's handwritten digits (real 8x8 scans, bundled, no download)
  upscaled as grey RGB; half smooth colour fields (random 4x4 colour grids bilinearly
  upsampled plus mild noise), so every channel sees natural-image-like variation.
  """
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  digits = load_digits().images  # [1797, 8, 8], values 0..16
  num_digits = num // 2
  chosen = digits[rng.choice(len(digits), num_digits, replace=False)] / 16.0
  up = inception.bilinear_resize_matrix(8, size)
  grey = np.einsum("oh,nhw,pw->nop", up, chosen, up)[..., None].repeat(3, axis=-1)
  grids = rng.uniform(0.0, 1.0, (num - num_digits, 4, 4, 3))
  up4 = inception.bilinear_resize_matrix(4, size)
  colour = np.einsum("oh,nhwc,pw->nopc", up4, grids, up4)
  colour += 0.05 * rng.standard_normal(colour.shape)
  images = np.concatenate([grey, colour])
  return np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)


def _batch_statistics(next_fun, args, kwargs, context):
  """Interceptor: every BatchNorm normalises with (and records) its batch's statistics."""
  if isinstance(context.module, nn.BatchNorm) and context.method_name == "__call__":
    kwargs = dict(kwargs, use_running_average=False)
  return next_fun(*args, **kwargs)


@jax.jit
def _calibrated_stats(variables, pixels):
  x = inception.resize_to_input(pixels.astype(np.float32) / 255.0)
  with nn.intercept_methods(_batch_statistics):
    _, updates = inception.FIDInceptionV3().apply(variables, x, mutable=["batch_stats"])
  return updates["batch_stats"]


def calibrate_batch_norm(variables, pixels) -> dict:
  """variables with every BatchNorm's statistics set from one batch of `pixels`.

  One forward pass in which each BatchNorm normalises with its input's batch mean and
  (biased) variance and records them (momentum 0); the network then maps those images
  as in that pass. Without this, random Inception features barely depend on the input.
  """
  stats = jax.device_get(_calibrated_stats(variables, np.asarray(pixels, np.uint8)))
  return {"params": variables["params"],
          "batch_stats": jax.tree.map(lambda s: np.asarray(s, np.float32), stats)}


def seeded_calibrated_variables(seed: int, num_calibration: int = 16) -> dict:
  """`seeded_variables(seed)` calibrated on `calibration_pixels(seed, num_calibration)`."""
  return calibrate_batch_norm(seeded_variables(seed),
                              calibration_pixels(seed, num_calibration))


def state_dict_from_variables(variables) -> dict[str, np.ndarray]:
  """The inverse of `variables_from_state_dict`: PyTorch keys and layouts (float32)."""
  flat = traverse_util.flatten_dict(jax.device_get(variables))
  return {key: np.ascontiguousarray(inception.to_flax_layout(
              np.asarray(flat[path], np.float32), inverse=True))
          for path, key in inception.torch_names().items()}
