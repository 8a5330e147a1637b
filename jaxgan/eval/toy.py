"""The 2-D toy sets' evaluator: mode coverage and distances to fresh real samples.

8gaussians / 25gaussians: the mode-coverage protocol of Srivastava et al. 2017
(VEEGAN) after Metz et al. 2017 (Unrolled GAN): high quality = within `eval.hq_sigmas`
standard deviations of the nearest mode; modes covered (>= 1 HQ sample, and the
stricter >= `eval.strict_fraction` of samples); % HQ; KL of the HQ mode histogram from
uniform. All three toy sets: the sliced Wasserstein distance (and, if
`eval.mmd_bandwidths` is set, the RBF MMD^2) against fresh real samples. A second real
set of the same size is scored the same way once per run (`real_data_reference`):
what a perfect generator gets at this sample size.
"""

from __future__ import annotations

import numpy as np

from jaxgan.data import toy as toy_data
from jaxgan.eval import metrics

# Stream id of the real reference draws (numpy seeds with [seed, stream]), disjoint
# from the training stream and the evaluation latents.
_EVAL_DATA_STREAM = 0xE7A2


def toy_metrics(name: str, samples: np.ndarray, real: np.ndarray, *, hq_sigmas: float,
                strict_fraction: float, num_projections: int, mmd_bandwidths,
                seed: int) -> dict:
  """The toy-set numbers of `samples` [N, 2] of dataset `name` against fresh `real` points.

  hq_sigmas and strict_fraction as in metrics.toy_mode_metrics (8gaussians and
  25gaussians only); num_projections directions of the sliced Wasserstein estimate,
  fixed by `seed` so every evaluation uses the same ones; mmd_rbf only when
  mmd_bandwidths (RBF length scales) is not empty. Returns a flat dict of numbers.
  """
  out = {}
  if name in ("8gaussians", "25gaussians"):
    out.update(metrics.toy_mode_metrics(
        samples, toy_data.modes(name), toy_data.mode_std(name), hq_sigmas=hq_sigmas,
        strict_fraction=strict_fraction))
  out["sliced_wasserstein"] = metrics.sliced_wasserstein(
      samples, real, num_projections=num_projections, rng=seed)
  if mmd_bandwidths:
    out["mmd_rbf"] = metrics.mmd_rbf(samples, real, bandwidths=mmd_bandwidths)
  return out


class ToyEvaluator:
  """Scores a toy generator's samples against `real` (fixed by the seed)."""

  def __init__(self, config):
    self.config = config
    self.num_samples = int(config.eval.num_samples)
    self.setup_seconds = 0.0
    rng = np.random.default_rng([config.seed, _EVAL_DATA_STREAM])
    self.real = toy_data.sample(config.dataset.name, rng, self.num_samples)
    # State-independent, so once per run: HQ% < 100 and distances > 0 even here.
    self.real_data_reference = self.run(
        toy_data.sample(config.dataset.name, rng, self.num_samples))

  def run(self, samples: np.ndarray, requested=None) -> dict:
    del requested  # toy sets have no classes
    ev = self.config.eval
    return toy_metrics(self.config.dataset.name, samples, self.real,
                       hq_sigmas=ev.hq_sigmas, strict_fraction=ev.strict_fraction,
                       num_projections=ev.num_projections,
                       mmd_bandwidths=tuple(ev.mmd_bandwidths), seed=self.config.seed)

  def describe(self) -> dict:
    return {}
