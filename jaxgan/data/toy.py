"""Toy 2D datasets of the WGAN-GP authors' toy experiments, generated in code.

Reproduces `gan_toy.py` of github.com/igul222/improved_wgan_training:

- 8gaussians: centres of a radius-2 ring at (+-1, 0), (0, +-1), (+-1/sqrt2, +-1/sqrt2)
  times 2, point = N(0, 1) * 0.02 + centre, then divided by 1.414.
- 25gaussians: centres (2x, 2y) for x, y in -2..2, point = N(0, 1) * 0.05 + centre,
  then divided by 2.828.
- swissroll: sklearn `make_swiss_roll(n, noise=0.25)`, columns 0 and 2, divided by 7.5.

One deliberate difference: the authors' 25gaussians pre-builds 100,000 points per mode,
shuffles them once and walks through that array; here every point picks its mode
uniformly at random, which has the same distribution and needs no 2.5M-point buffer.

Everything is a pure function of an explicit `np.random.Generator`, so the data
iterator can make batch `i` a function of (seed, i) and resume exactly.
"""

import numpy as np
from sklearn import datasets as sk_datasets

from jaxgan.data import registry

TOY_DATASETS = registry.names(registry.TOY)

# Noise scales and divisors exactly as in the authors' gan_toy.py.
_RING_SCALE = 2.0
_STD = {"8gaussians": 0.02, "25gaussians": 0.05}
_DIVISOR = {"8gaussians": 1.414, "25gaussians": 2.828, "swissroll": 7.5}
_SWISSROLL_NOISE = 0.25


def _unscaled_centres(name: str) -> np.ndarray:
  """Mode centres before the final division, float64 [M, 2]."""
  registry.info(name, registry.TOY)
  if name == "8gaussians":
    r = 1.0 / np.sqrt(2.0)
    unit = [(1, 0), (-1, 0), (0, 1), (0, -1), (r, r), (r, -r), (-r, r), (-r, -r)]
    return _RING_SCALE * np.asarray(unit, dtype=np.float64)
  if name == "25gaussians":
    return np.asarray([(2.0 * x, 2.0 * y)
                       for x in range(-2, 3) for y in range(-2, 3)],
                      dtype=np.float64)
  raise ValueError(f"toy dataset {name!r} has no discrete modes; "
                   "modes exist for 8gaussians and 25gaussians")


def modes(name: str) -> np.ndarray:
  """The scaled mode centres of a mixture dataset, float32 [M, 2].

  Raises:
    ValueError: for an unknown name, or for swissroll (which has no modes).
  """
  return (_unscaled_centres(name) / _DIVISOR[name]).astype(np.float32)


def mode_std(name: str) -> float:
  """Per-axis standard deviation of each mode after scaling (0.02/1.414, 0.05/2.828).

  Raises:
    ValueError: for an unknown name, or for swissroll (which has no modes).
  """
  _unscaled_centres(name)  # the same errors as modes()
  return _STD[name] / _DIVISOR[name]


def sample(name: str, rng: np.random.Generator, n: int) -> np.ndarray:
  """Draws `n` points of toy dataset `name`.

  Args:
    name: one of TOY_DATASETS.
    rng: the only source of randomness; equal generator states give equal points.
    n: number of points.

  Returns:
    float32 [n, 2].
  """
  registry.info(name, registry.TOY)
  if name == "swissroll":
    # make_swiss_roll wants its own seed; drawing it from rng keeps one source.
    points = sk_datasets.make_swiss_roll(
        n_samples=n, noise=_SWISSROLL_NOISE,
        random_state=int(rng.integers(0, 2**31 - 1)))[0][:, [0, 2]]
    return (points / _DIVISOR[name]).astype(np.float32)
  centres = _unscaled_centres(name)
  points = rng.standard_normal((n, 2)) * _STD[name]
  points += centres[rng.integers(0, len(centres), size=n)]
  return (points / _DIVISOR[name]).astype(np.float32)
