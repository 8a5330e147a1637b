"""The pictures an evaluation leaves beside its numbers: losses, critic contour, samples."""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from jaxgan import sample as sample_lib
from jaxgan import train as train_lib

# Resolution of the critic's contour plot over the plane (points per axis).
_CONTOUR_POINTS = 120


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def read_metrics(path: str) -> list[dict]:
  """The records of a metrics.jsonl (empty if the file does not exist)."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def plot_losses(records: list[dict], path: str, *, penalty_weight: float) -> bool:
  """Critic loss, its unregularised part and the penalty, and the generator loss.

  The left panel is the plot the WGAN-GP seeds draw (critic cost and its parts over
  generator iterations); the right panel the generator loss. Returns False (and
  writes nothing) when there is nothing to plot yet.
  """
  train = [r for r in records if "critic/loss" in r]
  if not train:
    return False
  plt = _pyplot()
  steps = [r["step"] for r in train]
  fig, (ax_c, ax_g) = plt.subplots(1, 2, figsize=(11, 4))
  ax_c.plot(steps, [r["critic/loss"] for r in train], label="critic loss (total)")
  ax_c.plot(steps, [r["critic/loss_unregularised"] for r in train],
            label="unregularised part")
  if penalty_weight:
    ax_c.plot(steps, [penalty_weight * r["critic/penalty"] for r in train],
              label=f"penalty x lambda ({penalty_weight:g})")
  if "critic/wasserstein_estimate" in train[0]:
    ax_c.plot(steps, [r["critic/wasserstein_estimate"] for r in train], alpha=0.6,
              label="E[D(real)] - E[D(fake)]")
  ax_c.set_xlabel("generator step")
  ax_c.set_title("critic")
  ax_c.legend(fontsize=8)
  ax_g.plot(steps, [r["generator/loss"] for r in train], color="tab:red")
  ax_g.set_xlabel("generator step")
  ax_g.set_title("generator loss")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return True


# The critic's value at each point [N, ...] (the first output of critic_scores).
_critic_values = jax.jit(
    lambda spec, params, spectral, x: train_lib.critic_scores(spec, params, spectral, x)[0],
    static_argnums=0)


def plot_critic_contour(spec: train_lib.StepSpec, state: train_lib.GANState,
                        samples: np.ndarray, real: np.ndarray, path: str, *,
                        title: str) -> None:
  """The critic's value over the plane with real and generated samples on top.

  As the WGAN-GP paper's toy figure (gan_toy.py): contour lines of D(x) on a grid
  spanning the data and the samples, real points and generated points overlaid.
  """
  plt = _pyplot()
  both = np.concatenate([real, samples])
  lo, hi = np.percentile(both, [0.5, 99.5], axis=0)
  pad = 0.15 * (hi - lo) + 1e-3
  xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], _CONTOUR_POINTS)
  ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], _CONTOUR_POINTS)
  gx, gy = np.meshgrid(xs, ys)
  grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
  values = np.asarray(_critic_values(spec, state.critic_params, state.critic_spectral,
                                     grid), np.float64).reshape(gx.shape)
  fig, ax = plt.subplots(figsize=(6, 6))
  contour = ax.contour(gx, gy, values, levels=20, cmap="viridis", linewidths=0.8)
  fig.colorbar(contour, ax=ax, shrink=0.8, label="critic value D(x)")
  ax.scatter(real[:, 0], real[:, 1], s=3, c=sample_lib.REAL_COLOUR, alpha=0.5,
             label="real")
  ax.scatter(samples[:, 0], samples[:, 1], s=3, c=sample_lib.GENERATED_COLOUR, alpha=0.5,
             label="generated")
  ax.set_xlim(xs[0], xs[-1])
  ax.set_ylim(ys[0], ys[-1])
  ax.set_aspect("equal")
  ax.set_title(title)
  ax.legend(loc="upper right", fontsize=8)
  fig.savefig(path, dpi=100, bbox_inches="tight")
  plt.close(fig)


def save_sample_grid(samples: np.ndarray, path: str, *, labels=None, num_classes: int = 0,
                     class_names=()) -> None:
  """The first 100 samples; a conditional run's (`labels` [N]) as one row per class."""
  if labels is None:
    sample_lib.save_image_grid(samples[:100], path)
    return
  k = num_classes
  per_class = max(1, min(100 // k, len(samples) // k))
  order = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(k)])
  titles = list(class_names) if len(class_names) == k else [str(c) for c in range(k)]
  sample_lib.save_image_grid(samples[order], path, row_titles=titles)
