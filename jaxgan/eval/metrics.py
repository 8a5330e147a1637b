"""Pure sample-quality metrics for GANs: toy mode coverage, distances, feature metrics.

Pure functions of NumPy-convertible arrays and, where sampling is involved, an
explicit ``rng`` (an int seed or a JAX PRNG key). Computed in float64 NumPy/SciPy on
the host: they run once per evaluation, and float32 is too coarse for the
cancellations in the Frechet distance and the unbiased MMD estimators. Each returns
plain Python numbers (or a dict of them), so results serialise to JSON as-is; KL
divergences are in nats with 0 log 0 = 0.

Sources: toy_mode_metrics, the mixture-of-Gaussians protocol of Srivastava et al.
2017 (VEEGAN) after Metz et al. 2017 (Unrolled GAN), with a stricter coverage count
and the KL of the HQ mode histogram added; sliced_wasserstein (Rabin et al. 2011;
Karras et al. 2018, Deshpande et al. 2018); mmd_rbf, Gretton et al. 2012;
frechet_distance, Heusel et al. 2017 (on the FID Inception-v3's pool3,
jaxgan/eval/inception.py, it is the FID papers report and equals pytorch-fid's; on
other features it is not, hence the name); kernel_inception_distance, Binkowski et
al. 2018 (on whatever features are given); inception_score, Salimans et al. 2016;
precision_recall_density_coverage, Kynkaanniemi et al. 2019 and Naeem et al. 2020;
class_histogram_metrics, the stacked-MNIST protocol of VEEGAN / PacGAN.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
import scipy.linalg
import scipy.special

# Square block edge for pairwise kernel sums: keeps peak memory at a few MB per block
# (1024^2 float64 = 8 MB) however many samples are evaluated.
_KERNEL_BLOCK = 1024
# Rows per chunk when assigning toy samples to modes, for the same reason.
_TOY_CHUNK = 65536


def _numpy_rng(rng: Any) -> np.random.Generator:
  """A fresh NumPy Generator derived from an int seed or a JAX PRNG key.

  A caller's ``np.random.Generator`` is rejected on purpose: drawing from it would
  advance the caller's state, so the same call would not return the same value twice.
  """
  if isinstance(rng, (bool, np.bool_, np.random.Generator)):
    raise TypeError(
        f'rng must be an int seed or a JAX PRNG key, not a {type(rng).__name__}: '
        'drawing from a np.random.Generator would mutate the caller\'s state and make '
        'the metric impure.')
  if isinstance(rng, (int, np.integer)):
    return np.random.default_rng(int(rng))  # a negative seed is numpy's ValueError
  if isinstance(rng, jax.Array) and jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key):
    data = np.asarray(jax.random.key_data(rng))
  else:
    data = np.asarray(rng)
    if data.dtype != np.uint32 or data.ndim != 1:
      raise TypeError(
          'rng must be an int seed or a JAX PRNG key (typed, or raw uint32 key data); '
          f'got {type(rng).__name__} with dtype {getattr(data, "dtype", None)}.')
  # The key's words are the entropy of a NumPy SeedSequence: deterministic across
  # platforms, and distinct keys (e.g. from jax.random.split) give distinct streams.
  return np.random.default_rng([int(w) for w in data.ravel()])


def _as_matrix(x: Any, name: str, min_rows: int = 1) -> np.ndarray:
  """float64 2D array [N, D] with N >= min_rows and finite entries, or a ValueError."""
  arr = np.asarray(x, dtype=np.float64)
  if arr.ndim != 2:
    raise ValueError(f'{name} must be 2D [N, D], got shape {arr.shape}.')
  if arr.shape[0] < min_rows:
    raise ValueError(f'{name} needs at least {min_rows} rows, got {arr.shape[0]}.')
  if arr.shape[1] < 1:
    raise ValueError(f'{name} must have at least one column, got shape {arr.shape}.')
  if not np.all(np.isfinite(arr)):
    raise ValueError(f'{name} contains non-finite values.')
  return arr


def _as_pair(x: Any, y: Any, names: str, min_rows: int = 1):
  """`_as_matrix` of both of x and y ("x, y" names them), of one feature dimension."""
  name_x, name_y = names.split(', ')
  a, b = _as_matrix(x, name_x, min_rows), _as_matrix(y, name_y, min_rows)
  if a.shape[1] != b.shape[1]:
    raise ValueError(f'{name_x} and {name_y} must have the same feature dimension, got '
                     f'{a.shape[1]} and {b.shape[1]}.')
  return a, b


def _min_count(fraction: float, n: int) -> int:
  """Smallest integer count that is >= fraction * n (and at least 1)."""
  if not 0.0 <= fraction <= 1.0:
    raise ValueError(f'strict_fraction must be in [0, 1], got {fraction}.')
  target = fraction * n
  # The relative slack absorbs float error such as 0.07 * 100 = 7.000000000000001,
  # which must mean "7 samples", not 8.
  return max(1, math.ceil(target - 1e-9 * max(1.0, target)))


def _kl_from_counts(counts: np.ndarray, reference: np.ndarray) -> float:
  """KL(p || q) in nats, p = counts / sum(counts), q = reference (sums to 1).

  0 log 0 = 0 (empty bins of p contribute nothing); a bin with p > 0 and q = 0 makes
  the divergence +inf.
  """
  p = counts / counts.sum()
  support = p > 0
  if np.any(reference[support] == 0):
    return math.inf
  return float(np.sum(p[support] * np.log(p[support] / reference[support])))


def _kernel_sum(kernel: Callable[[np.ndarray, np.ndarray], np.ndarray], a: np.ndarray,
                b: np.ndarray, *, exclude_diagonal: bool) -> float:
  """sum_{i,j} kernel(a_i, b_j), block by block; optionally without the i == j terms.

  exclude_diagonal requires a is b; the diagonal is zeroed inside the diagonal blocks
  rather than subtracted afterwards, so rounding in k(x, x) never leaks into the sum.
  """
  total = 0.0
  for i in range(0, a.shape[0], _KERNEL_BLOCK):
    a_blk = a[i:i + _KERNEL_BLOCK]
    for j in range(0, b.shape[0], _KERNEL_BLOCK):
      k = kernel(a_blk, b[j:j + _KERNEL_BLOCK])
      if exclude_diagonal and i == j:
        np.fill_diagonal(k, 0.0)
      total += float(k.sum())
  return total


def _unbiased_mmd2(kernel: Callable[[np.ndarray, np.ndarray], np.ndarray],
                   x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 (Gretton et al. 2012, Lemma 6) for sizes n, m >= 2.

  mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean_{i, j} k(x_i, y_j).
  This is also Binkowski et al.'s 'unbiased' KID estimator (their reference code keeps
  the i == j terms of the cross term, as here). It can be negative.
  """
  n, m = x.shape[0], y.shape[0]
  kxx = _kernel_sum(kernel, x, x, exclude_diagonal=True) / (n * (n - 1))
  kyy = _kernel_sum(kernel, y, y, exclude_diagonal=True) / (m * (m - 1))
  kxy = _kernel_sum(kernel, x, y, exclude_diagonal=False) / (n * m)
  return kxx + kyy - 2.0 * kxy


def toy_mode_metrics(samples: Any, modes: Any, mode_std: float, *,
                     hq_sigmas: float = 3.0,
                     strict_fraction: float = 0.01) -> dict[str, float | int]:
  """Mode coverage and sample quality on a mixture of Gaussians (VEEGAN protocol).

  Each sample goes to its nearest mode; it is *high quality* (HQ) within
  hq_sigmas * mode_std of it (3 standard deviations in Srivastava et al. 2017 and
  Metz et al. 2017); a mode is *covered* if it gets at least one HQ sample.

  Args:
    samples: generated points [N, d].
    modes: mixture centres [M, d], in the same coordinates.
    mode_std: per-coordinate standard deviation of each component.
    hq_sigmas: HQ radius in units of mode_std.
    strict_fraction: for modes_covered_strict a mode needs at least
      strict_fraction * N HQ samples (rounded up, at least 1).

  Returns:
    modes_covered, modes_covered_strict, strict_min_count (that threshold),
    num_modes, num_samples, hq_percent (100 * HQ / N), and mode_kl: KL(p || uniform)
    in nats of the HQ samples' mode histogram, in [0, log M] (+inf with no HQ sample).
  """
  x, centres = _as_pair(samples, modes, 'samples, modes')
  if not mode_std > 0:
    raise ValueError(f'mode_std must be positive, got {mode_std}.')
  if not hq_sigmas > 0:
    raise ValueError(f'hq_sigmas must be positive, got {hq_sigmas}.')
  n, num_modes = x.shape[0], centres.shape[0]

  nearest = np.empty(n, dtype=np.int64)
  min_dist = np.empty(n, dtype=np.float64)
  for i in range(0, n, _TOY_CHUNK):
    # Direct differences rather than |a|^2 + |b|^2 - 2ab: exact for points sitting on a
    # mode, which matters at the HQ boundary.
    diff = x[i:i + _TOY_CHUNK, None, :] - centres[None, :, :]
    d2 = np.einsum('nmd,nmd->nm', diff, diff)
    nearest[i:i + _TOY_CHUNK] = np.argmin(d2, axis=1)
    min_dist[i:i + _TOY_CHUNK] = np.sqrt(np.min(d2, axis=1))

  hq = min_dist <= hq_sigmas * mode_std
  counts = np.bincount(nearest[hq], minlength=num_modes)
  strict_min = _min_count(strict_fraction, n)
  num_hq = int(hq.sum())
  if num_hq == 0:
    mode_kl = math.inf
  else:
    mode_kl = _kl_from_counts(counts, np.full(num_modes, 1.0 / num_modes))
  return {
      'modes_covered': int(np.count_nonzero(counts >= 1)),
      'modes_covered_strict': int(np.count_nonzero(counts >= strict_min)),
      'strict_min_count': int(strict_min),
      'num_modes': int(num_modes),
      'num_samples': int(n),
      'hq_percent': 100.0 * num_hq / n,
      'mode_kl': float(mode_kl),
  }


def sliced_wasserstein(x: Any, y: Any, *, num_projections: int, rng: Any,
                       p: float = 2.0) -> float:
  """Monte-Carlo sliced p-Wasserstein distance between two empirical distributions.

  SW_p = (E_theta[W_p^p(<theta, x>, <theta, y>)])^(1/p), theta uniform on the sphere,
  over num_projections directions drawn from `rng` (same rng, same value). Each 1D W_p
  is exact between the two empirical distributions, also for N != M (the quantile
  functions' breakpoints merged; nothing dropped or resampled). Scale: for y = x + v,
  SW_2 ~ |v| / sqrt(d).
  """
  a, b = _as_pair(x, y, 'x, y')
  if num_projections < 1:
    raise ValueError(f'num_projections must be >= 1, got {num_projections}.')
  if not p >= 1:
    raise ValueError(f'p must be >= 1, got {p}.')
  n, m, d = a.shape[0], b.shape[0], a.shape[1]

  gen = _numpy_rng(rng)
  theta = gen.standard_normal((d, num_projections))
  # A normalised Gaussian vector is uniform on the sphere.
  theta /= np.linalg.norm(theta, axis=0, keepdims=True)
  proj_a = np.sort(a @ theta, axis=0)
  proj_b = np.sort(b @ theta, axis=0)

  # Breakpoints of both quantile functions on the integer grid t * N * M, so the
  # merge is exact: x's quantile jumps at i * M, y's at j * N.
  grid = np.union1d(
      np.arange(n + 1, dtype=np.int64) * m, np.arange(m + 1, dtype=np.int64) * n
  )
  starts = grid[:-1]
  weights = np.diff(grid) / (n * m)
  gaps = np.abs(proj_a[starts // m] - proj_b[starts // n]) ** p
  per_projection = weights @ gaps
  return float(np.mean(per_projection) ** (1.0 / p))


def mmd_rbf(x: Any, y: Any, *, bandwidths: Sequence[float]) -> float:
  """Unbiased MMD^2 (Gretton et al. 2012) with a sum of Gaussian RBF kernels.

  k(a, b) = sum_s exp(-|a - b|^2 / (2 s^2)) over the length scales s in `bandwidths`
  (several avoid tuning one to the data's scale). Unbiased, so it can be slightly
  negative for two samples of one distribution. x [N, d], y [M, d], N, M >= 2; returns
  MMD^2, not its root.
  """
  a, b = _as_pair(x, y, 'x, y', min_rows=2)
  sigmas = np.asarray(bandwidths, dtype=np.float64).ravel()
  if sigmas.size == 0 or not np.all(sigmas > 0):
    raise ValueError(
        f'bandwidths must be a non-empty sequence of positive values, got {bandwidths}.')
  inv_two_var = 1.0 / (2.0 * sigmas**2)

  def kernel(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    sq = np.sum(u * u, axis=1)[:, None] + np.sum(v * v, axis=1)[None, :] - 2.0 * (u @ v.T)
    sq = np.maximum(sq, 0.0)  # the expansion can dip below 0 by rounding
    return np.exp(-sq[..., None] * inv_two_var).sum(axis=-1)

  return _unbiased_mmd2(kernel, a, b)


def frechet_distance_from_stats(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, *,
                                eps: float = 1e-6) -> float:
  """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (Heusel et al.).

  d^2 = |mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)), computed step
  for step as pytorch-fid's calculate_frechet_distance, so equal statistics give equal
  values: scipy's sqrtm of the product, retried with eps on both diagonals if not
  finite. An imaginary part of the root is dropped when its diagonal is below 1e-3
  relative to the root's scale (pytorch-fid: absolute 1e-3, which rejects large-scale
  features whose covariances are fine), else this raises: the covariances are not PSD.
  Not clipped: identical inputs may give a tiny negative number.
  """
  mu1, mu2 = (np.atleast_1d(np.asarray(m, dtype=np.float64)) for m in (mu1, mu2))
  sigma1, sigma2 = (np.atleast_2d(np.asarray(s, dtype=np.float64)) for s in (sigma1, sigma2))
  dim = mu1.shape[0]
  if {mu1.shape, mu2.shape} != {(dim,)} or {sigma1.shape, sigma2.shape} != {(dim, dim)}:
    raise ValueError(f'expected means [D] and covariances [D, D], got {mu1.shape}, '
                     f'{mu2.shape}, {sigma1.shape} and {sigma2.shape}.')
  if not all(np.all(np.isfinite(a)) for a in (mu1, mu2, sigma1, sigma2)):
    raise ValueError('the statistics contain non-finite values.')

  diff = mu1 - mu2
  covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
  if not np.all(np.isfinite(covmean)):
    offset = eps * np.eye(dim)
    covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
  if np.iscomplexobj(covmean):
    scale = max(1.0, float(np.max(np.abs(covmean.real))))
    max_imag = float(np.max(np.abs(np.diagonal(covmean).imag)))
    if max_imag > 1e-3 * scale:
      raise ValueError(
          f'sqrtm(sigma1 @ sigma2) has a large imaginary component ({max_imag:.3g}); '
          'are both covariances symmetric positive semi-definite?')
    covmean = covmean.real
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def frechet_distance(feats_a: Any, feats_b: Any, *, eps: float = 1e-6) -> float:
  """Squared Frechet distance of Gaussians fitted to feature sets [N, D] and [M, D].

  Sample means and unbiased covariances, as the reference implementations fit them,
  then `frechet_distance_from_stats`. Biased upwards at finite N: compare values at
  equal sample sizes only.
  """
  a, b = _as_pair(feats_a, feats_b, 'feats_a, feats_b', min_rows=2)
  return frechet_distance_from_stats(*feature_statistics(a), *feature_statistics(b), eps=eps)


def _cubic_polynomial_kernel(u: np.ndarray, v: np.ndarray) -> np.ndarray:
  """k(u, v) = (u.v / D + 1)^3, the KID kernel of Binkowski et al. 2018."""
  return (u @ v.T / u.shape[1] + 1.0) ** 3


def kernel_inception_distance(feats_a: Any, feats_b: Any, *, num_subsets: int,
                              subset_size: int, rng: Any) -> tuple[float, float]:
  """Kernel distance of Binkowski et al. 2018 ("KID") as (mean, std_error).

  Unbiased MMD^2 with the cubic kernel k(x, y) = (x.y / D + 1)^3, averaged over
  num_subsets pairs of subsets drawn independently (without replacement within one)
  from `rng`, of size min(subset_size, N, M) as in the authors' code. Unbiased, so it
  can be slightly negative; not multiplied by 1000 as the paper reports it.

  std_error is the per-subset estimates' standard deviation (ddof=1) over
  sqrt(num_subsets), nan for one subset: the Monte-Carlo error of the average, an honest
  error of the distance only when subsets rarely overlap. torch-fidelity's "std" is
  std_error * sqrt(num_subsets - 1). Per subset the value equals torch-fidelity's and
  the authors' mmd2; their subsets come from other generators.
  """
  a, b = _as_pair(feats_a, feats_b, 'feats_a, feats_b', min_rows=2)
  if num_subsets < 1:
    raise ValueError(f'num_subsets must be >= 1, got {num_subsets}.')
  if subset_size < 2:
    raise ValueError(f'subset_size must be >= 2, got {subset_size}.')
  size = min(subset_size, a.shape[0], b.shape[0])

  gen = _numpy_rng(rng)
  estimates = np.empty(num_subsets, dtype=np.float64)
  for i in range(num_subsets):
    sub_a = a[gen.choice(a.shape[0], size, replace=False)]
    sub_b = b[gen.choice(b.shape[0], size, replace=False)]
    estimates[i] = _unbiased_mmd2(_cubic_polynomial_kernel, sub_a, sub_b)
  mean = float(estimates.mean())
  if num_subsets == 1:
    return mean, math.nan
  return mean, float(estimates.std(ddof=1) / math.sqrt(num_subsets))


def feature_statistics(feats: Any) -> tuple[np.ndarray, np.ndarray]:
  """(mean [D], covariance [D, D]) of features [N, D], N >= 2, in float64.

  pytorch-fid's calculate_activation_statistics (unbiased covariance); saved as "mu"
  and "sigma" these are its .npz statistics files.
  """
  a = _as_matrix(feats, 'feats', min_rows=2)
  # atleast_2d: np.cov returns a 0-d array when D == 1.
  return a.mean(axis=0), np.atleast_2d(np.cov(a, rowvar=False))


def inception_score(logits: Any, *, num_splits: int = 10,
                    shuffle_seed: int | None = None) -> tuple[float, float]:
  """Inception score of Salimans et al. 2016 from logits [N, K]: (mean, std) over splits.

  IS = exp(mean_x KL(p(y|x) || p(y))) per split, as their released code and
  torch-fidelity compute it: num_splits contiguous splits [i N / S, (i + 1) N / S),
  the mean and the ddof=0 std of the split scores, in float64 with log-softmax. For the
  published numbers the logits are pool3 times the FID Inception-v3's logit weights
  without the bias (inception.Extractor.score_logits) and N = 50,000 in 10 splits.
  shuffle_seed: None keeps the order (the original code); an int permutes the rows
  with np.random.RandomState(shuffle_seed) first, torch-fidelity's shuffle (seed 2020).
  """
  z = _as_matrix(logits, 'logits')
  if num_splits < 1:
    raise ValueError(f'num_splits must be >= 1, got {num_splits}.')
  n = z.shape[0]
  if n < num_splits:
    raise ValueError(f'logits has {n} rows, fewer than num_splits={num_splits}.')
  if shuffle_seed is not None:
    z = z[np.random.RandomState(shuffle_seed).permutation(n)]
  log_p = z - scipy.special.logsumexp(z, axis=1, keepdims=True)
  p = np.exp(log_p)
  scores = np.empty(num_splits)
  for i in range(num_splits):
    lo, hi = i * n // num_splits, (i + 1) * n // num_splits
    log_marginal = np.log(p[lo:hi].mean(axis=0))
    kl = np.sum(p[lo:hi] * (log_p[lo:hi] - log_marginal), axis=1)
    scores[i] = math.exp(kl.mean())
  return float(scores.mean()), float(scores.std())


def _pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Euclidean distances [len(a), len(b)] as scikit-learn computes them in float64.

  sqrt(max(|a|^2 - 2 a.b + |b|^2, 0)), the expansion sklearn.metrics.pairwise_distances
  (and hence the prdc package) uses, so near-ties fall on the same side.
  """
  sq = (np.einsum('ij,ij->i', a, a)[:, None] - 2.0 * (a @ b.T)
        + np.einsum('ij,ij->i', b, b)[None, :])
  return np.sqrt(np.maximum(sq, 0.0))


def _kth_neighbour_radii(x: np.ndarray, k: int) -> np.ndarray:
  """Distance from each row of x to its k-th nearest other row (self excluded).

  prdc's compute_nearest_neighbour_distances: the (k + 1)-th smallest distance of the
  row, the row's distance to itself (set to exactly 0, as sklearn does) being the first.
  """
  radii = np.empty(x.shape[0])
  for i in range(0, x.shape[0], _KERNEL_BLOCK):
    d = _pairwise_distances(x[i:i + _KERNEL_BLOCK], x)
    rows = np.arange(d.shape[0])
    d[rows, i + rows] = 0.0
    radii[i:i + _KERNEL_BLOCK] = np.partition(d, k, axis=1)[:, k]
  return radii


def precision_recall_density_coverage(real: Any, fake: Any, *, k: int) -> dict[str, float]:
  """Precision, recall, density and coverage of fake features against real ones.

  With NND_k(x) the distance from x to its k-th nearest neighbour in its own set:
  precision = share of fakes inside some real ball B(r, NND_k(r)); recall = share of
  reals inside some fake ball; density = (1/k) mean over fakes of the real balls
  containing it; coverage = share of real balls containing some fake. Kynkaanniemi et
  al. 2019 (precision, recall) and Naeem et al. 2020 (density, coverage), exactly the
  prdc package's compute_prdc (strict "<", Euclidean), in blocks so 50,000 samples fit
  in memory. real [N, D], fake [M, D], N, M > k (5 in the paper).
  """
  r, f = _as_pair(real, fake, 'real, fake')
  if k < 1:
    raise ValueError(f'k must be >= 1, got {k}.')
  if r.shape[0] <= k or f.shape[0] <= k:
    raise ValueError(f'need more than k={k} samples per set, got {r.shape[0]} real and '
                     f'{f.shape[0]} fake.')
  radii_real = _kth_neighbour_radii(r, k)
  radii_fake = _kth_neighbour_radii(f, k)
  balls_per_fake = np.zeros(f.shape[0], dtype=np.int64)
  real_recalled = np.empty(r.shape[0], dtype=bool)
  real_covered = np.empty(r.shape[0], dtype=bool)
  for i in range(0, r.shape[0], _KERNEL_BLOCK):
    d = _pairwise_distances(r[i:i + _KERNEL_BLOCK], f)
    inside_real_ball = d < radii_real[i:i + _KERNEL_BLOCK, None]
    balls_per_fake += inside_real_ball.sum(axis=0)
    real_recalled[i:i + _KERNEL_BLOCK] = (d < radii_fake[None, :]).any(axis=1)
    real_covered[i:i + _KERNEL_BLOCK] = d.min(axis=1) < radii_real[i:i + _KERNEL_BLOCK]
  return {
      'precision': float(np.mean(balls_per_fake > 0)),
      'recall': float(np.mean(real_recalled)),
      'density': float((1.0 / k) * np.mean(balls_per_fake)),
      'coverage': float(np.mean(real_covered)),
  }


def class_histogram_metrics(probs_fake: Any, real_hist: Any = None, *,
                            real_labels: Any = None,
                            strict_fraction: float = 0.01) -> dict[str, float | int]:
  """Label coverage of generated samples according to a classifier (VEEGAN / PacGAN).

  Args:
    probs_fake: classifier probabilities [N, K] of generated samples (softmax rows;
      logits are rejected).
    real_hist: [K] non-negative weights of the real classes, or
    real_labels: [L] integer labels of real examples (exactly one of the two: an
      integer vector of length K could be either).
    strict_fraction: for classes_covered_strict a class must be the argmax of at
      least strict_fraction * N samples (rounded up, at least 1).

  Returns:
    classes_covered, classes_covered_strict, strict_min_count, num_classes,
    num_samples, class_kl (KL in nats of the argmax histogram from the real one; +inf
    if a sample falls in a class with no real probability) and mean_max_prob (the
    classifier's mean confidence).
  """
  probs = _as_matrix(probs_fake, 'probs_fake')
  n, num_classes = probs.shape
  if np.any(probs < 0) or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
    raise ValueError(
        'probs_fake rows must be probabilities (non-negative, summing to 1); '
        'apply a softmax to logits first.')
  if (real_hist is None) == (real_labels is None):
    raise ValueError('Give exactly one of real_hist and real_labels.')
  if real_hist is not None:
    weights = np.asarray(real_hist, dtype=np.float64)
    if weights.shape != (num_classes,):
      raise ValueError(f'real_hist must have shape ({num_classes},), got {weights.shape}.')
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
      raise ValueError('real_hist must be finite, non-negative and not all zero.')
  else:
    labels = _class_ids(real_labels, 'real_labels', None, num_classes)
    weights = np.bincount(labels, minlength=num_classes).astype(np.float64)
  p_real = weights / weights.sum()

  counts = np.bincount(np.argmax(probs, axis=1), minlength=num_classes)
  strict_min = _min_count(strict_fraction, n)
  return {
      'classes_covered': int(np.count_nonzero(counts >= 1)),
      'classes_covered_strict': int(np.count_nonzero(counts >= strict_min)),
      'strict_min_count': int(strict_min),
      'num_classes': int(num_classes),
      'num_samples': int(n),
      'class_kl': _kl_from_counts(counts.astype(np.float64), p_real),
      'mean_max_prob': float(np.mean(np.max(probs, axis=1))),
  }


def _class_ids(labels: Any, name: str, n: int | None, num_classes: int) -> np.ndarray:
  """labels as a 1D int array of length n (None: any but 0) with values in
  [0, num_classes), or a ValueError."""
  labels = np.asarray(labels)
  if (labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer)
      or (labels.size != n if n is not None else labels.size == 0)):
    raise ValueError(f'{name} must be {n or "some"} integer labels, got {labels.dtype} '
                     f'array of shape {labels.shape}.')
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    raise ValueError(f'{name} must lie in [0, {num_classes}).')
  return labels


def requested_class_metrics(probs_fake: Any, requested: Any) -> dict[str, float]:
  """How often a classifier sees in conditional samples the class they were asked for.

  The classification accuracy of conditional GAN evaluations (Odena et al. 2017,
  Shmelkov et al. 2018's GAN-test): requested_class_accuracy overall,
  requested_class_accuracy_min over classes with samples, and
  requested_class_accuracy_class{k} each (NaN for a class without samples).
  """
  probs = _as_matrix(probs_fake, 'probs_fake')
  n, num_classes = probs.shape
  requested = _class_ids(requested, 'requested', n, num_classes)
  correct = np.argmax(probs, axis=1) == requested
  per_class = {}
  for k in range(num_classes):
    mask = requested == k
    per_class[k] = float(np.mean(correct[mask])) if mask.any() else math.nan
  present = [v for v in per_class.values() if not math.isnan(v)]
  out = {'requested_class_accuracy': float(np.mean(correct)),
         'requested_class_accuracy_min': min(present)}
  out.update({f'requested_class_accuracy_class{k}': v for k, v in per_class.items()})
  return out


def intra_frechet_distances(feats_fake: Any, requested: Any, feats_real: Any,
                            real_labels: Any, num_classes: int, *,
                            eps: float = 1e-6) -> list[float]:
  """[K] Frechet distances, class-k samples against class-k real features.

  The intra-class FID of Miyato & Koyama 2018 (calc_intra_FID.py) on the features
  given; NaN for a class with fewer than 2 samples on either side. With few real images
  per class it is far more biased than the overall distance: compare at equal sizes.
  """
  fake, real = _as_pair(feats_fake, feats_real, 'feats_fake, feats_real')
  requested = _class_ids(requested, 'requested', fake.shape[0], num_classes)
  real_labels = _class_ids(real_labels, 'real_labels', real.shape[0], num_classes)
  out = []
  for k in range(num_classes):
    a, b = fake[requested == k], real[real_labels == k]
    out.append(frechet_distance(a, b, eps=eps) if min(len(a), len(b)) >= 2 else math.nan)
  return out
