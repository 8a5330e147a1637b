"""Drawing samples: a fixed latent batch, image grids, toy scatter plots, restore-and-sample.

Samples are always drawn with the generator in evaluation mode (BatchNorm uses
its running averages), from latents that depend only on the seed, so grids
from different steps, or from a checkpoint restored months later, are
comparable image for image.
"""

from __future__ import annotations

import math
import os

import jax
import numpy as np
from PIL import Image

from jaxgan import rng as rng_lib
from jaxgan import train as train_lib

# Stream id of the fixed sample latents (rng.stream_key); disjoint from the
# training stream, which splits rng.run_key(seed).
_SAMPLE_STREAM = 0x5A3D1E


def stream_latents(seed: int, stream: int, num: int, z_dim: int):
  """Latents [num, z_dim] fixed by (seed, stream): rng.stream_key(seed, stream)."""
  return rng_lib.normal(rng_lib.example_keys(rng_lib.stream_key(seed, stream), 0, num),
                        (z_dim,))


def fixed_latents(seed: int, num: int, z_dim: int):
  """The fixed latent batch [num, z_dim] used for every sample grid of a run."""
  return stream_latents(seed, _SAMPLE_STREAM, num, z_dim)


def generate_samples(spec: train_lib.StepSpec, state: train_lib.GANState, z, *,
                     use_ema: bool = False) -> np.ndarray:
  """Generator outputs for latents z in eval mode, as a host float32 array."""
  params = state.ema_params if use_ema else state.generator_params
  samples, _ = _generate_eval(spec, params, state.generator_batch_stats, z)
  return np.asarray(jax.device_get(samples), dtype=np.float32)


_generate_eval = jax.jit(
    lambda spec, params, batch_stats, z: train_lib.generate(
        spec, params, batch_stats, z, train=False),
    static_argnums=0)


def image_grid(images: np.ndarray, *, min_cell: int = 32) -> np.ndarray:
  """[N, H, W, C] in [-1, 1] -> one uint8 image, near-square grid, 1px gaps.

  Cells smaller than `min_cell` pixels are enlarged by an integer factor
  (nearest neighbour) so 8x8 digits are visible.
  """
  n, h, w, c = images.shape
  cols = int(math.ceil(math.sqrt(n)))
  rows = int(math.ceil(n / cols))
  scale = max(1, int(math.ceil(min_cell / max(h, w))))
  pixels = np.clip((images + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
  pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
  h, w = h * scale, w * scale
  grid = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1, c), 255, np.uint8)
  for i in range(n):
    r, col = divmod(i, cols)
    grid[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + col * (w + 1):1 + col * (w + 1) + w] = pixels[i]
  return grid[..., 0] if c == 1 else grid


def save_image_grid(images: np.ndarray, path: str) -> None:
  Image.fromarray(image_grid(images)).save(path)


def save_scatter(points: np.ndarray, path: str, *, real: np.ndarray | None = None,
                 title: str = "") -> None:
  """Scatter plot of 2-D samples (orange) over real data (blue), as in gan_toy.py."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5, 5))
  if real is not None:
    ax.scatter(real[:, 0], real[:, 1], s=4, c="tab:blue", alpha=0.4, label="real")
  ax.scatter(points[:, 0], points[:, 1], s=4, c="tab:orange", alpha=0.6, label="generated")
  ax.set_aspect("equal")
  ax.set_title(title)
  ax.legend(loc="upper right", fontsize=8)
  fig.savefig(path, dpi=100, bbox_inches="tight")
  plt.close(fig)


def write_samples(samples: np.ndarray, directory: str, step: int, *,
                  real: np.ndarray | None = None, suffix: str = "") -> dict:
  """Writes step_NNNNNN{suffix}.png and .npy into `directory`; returns their paths."""
  os.makedirs(directory, exist_ok=True)
  stem = os.path.join(directory, f"step_{step:06d}{suffix}")
  np.save(stem + ".npy", samples)
  if samples.ndim == 4:
    save_image_grid(samples, stem + ".png")
  else:
    save_scatter(samples, stem + ".png", real=real, title=f"step {step}{suffix}")
  return {"png": stem + ".png", "npy": stem + ".npy"}
