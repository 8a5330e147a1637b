"""Tests for jaxgan.eval.metrics: known answers, closed forms and direct O(n^2) references."""

from __future__ import annotations

import json
import math

import jax
import numpy as np
import pytest
import scipy.stats

from jaxgan.eval import metrics

prdc = metrics.precision_recall_density_coverage

# 8gaussians as in the WGAN-GP toy experiments: radius-2 ring, std 0.02, rescaled by 1.414.
RING_MODES = np.array(
    [(2 * math.cos(2 * math.pi * k / 8), 2 * math.sin(2 * math.pi * k / 8)) for k in range(8)]
) / 1.414
RING_STD = 0.02 / 1.414


# ------------------------------------------------------------------------ references


def _eigen_trace_sqrt_product(s1, s2):
  """Tr((s1 s2)^(1/2)) via symmetric eigendecompositions, independent of sqrtm.

  s1 s2 is similar to s1^(1/2) s2 s1^(1/2), which is symmetric PSD, so the trace of the
  root is the sum of the square roots of the latter's eigenvalues.
  """
  w, v = np.linalg.eigh(s1)
  root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
  lam = np.linalg.eigvalsh(root1 @ s2 @ root1)
  return float(np.sum(np.sqrt(np.clip(lam, 0, None))))


def _reference_frechet(a, b):
  mu_a, mu_b = a.mean(0), b.mean(0)
  s_a = np.atleast_2d(np.cov(a, rowvar=False))
  s_b = np.atleast_2d(np.cov(b, rowvar=False))
  return float(
      np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b)
      - 2 * _eigen_trace_sqrt_product(s_a, s_b)
  )


def _reference_unbiased_mmd2(x, y, k):
  """Unbiased MMD^2 by explicit double loops over pairs."""
  n, m = len(x), len(y)
  kxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
  kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  kxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
  return kxx + kyy - 2 * kxy


def _random_spd(rng, d):
  a = rng.normal(size=(d, d))
  return a @ a.T / d + 0.1 * np.eye(d)


# ---------------------------------------------------------------- toy mode metrics


def test_toy_samples_exactly_at_every_mode_cover_all_with_zero_kl():
  samples = np.repeat(RING_MODES, 10, axis=0)
  out = metrics.toy_mode_metrics(samples, RING_MODES, RING_STD)
  assert out['modes_covered'] == 8
  assert out['modes_covered_strict'] == 8
  assert out['num_modes'] == 8
  assert out['num_samples'] == 80
  assert out['hq_percent'] == 100.0
  assert out['mode_kl'] == pytest.approx(0.0, abs=1e-12)


def test_toy_all_samples_at_one_mode_cover_one_with_kl_log_m():
  samples = np.tile(RING_MODES[3], (50, 1))
  out = metrics.toy_mode_metrics(samples, RING_MODES, RING_STD)
  assert out['modes_covered'] == 1
  assert out['modes_covered_strict'] == 1
  assert out['hq_percent'] == 100.0
  assert out['mode_kl'] == pytest.approx(math.log(8), rel=1e-12)


def test_toy_off_mode_samples_are_not_high_quality_and_kl_is_inf():
  # The ring's centre is ~1.41 from every mode, about 100 standard deviations.
  samples = np.zeros((40, 2))
  out = metrics.toy_mode_metrics(samples, RING_MODES, RING_STD)
  assert out['hq_percent'] == 0.0
  assert out['modes_covered'] == 0
  assert out['modes_covered_strict'] == 0
  assert out['mode_kl'] == math.inf


def test_toy_high_quality_radius_is_hq_sigmas_times_std():
  direction = np.array([0.6, 0.8])
  inside = RING_MODES[0] + 2.9 * RING_STD * direction
  outside = RING_MODES[0] + 3.1 * RING_STD * direction
  samples = np.stack([inside, outside])
  assert metrics.toy_mode_metrics(samples, RING_MODES, RING_STD)['hq_percent'] == 50.0
  wider = metrics.toy_mode_metrics(samples, RING_MODES, RING_STD, hq_sigmas=4.0)
  assert wider['hq_percent'] == 100.0


def test_toy_strict_rule_drops_modes_below_the_sample_fraction():
  # N = 1000, strict_fraction 1% -> a mode needs >= 10 HQ samples. Mode 1 sits exactly
  # on the threshold, mode 2 below it; 5 off-mode samples count towards N only.
  samples = np.concatenate([
      np.tile(RING_MODES[0], (980, 1)),
      np.tile(RING_MODES[1], (10, 1)),
      np.tile(RING_MODES[2], (5, 1)),
      np.zeros((5, 2)),
  ])
  out = metrics.toy_mode_metrics(samples, RING_MODES, RING_STD, strict_fraction=0.01)
  assert out['strict_min_count'] == 10
  assert out['modes_covered'] == 3
  assert out['modes_covered_strict'] == 2
  assert out['hq_percent'] == pytest.approx(99.5)


def test_toy_strict_threshold_is_not_raised_by_float_rounding():
  # 0.07 * 100 == 7.000000000000001 in floating point; the threshold must still be 7.
  samples = np.concatenate([np.tile(RING_MODES[0], (93, 1)), np.tile(RING_MODES[1], (7, 1))])
  out = metrics.toy_mode_metrics(samples, RING_MODES, RING_STD, strict_fraction=0.07)
  assert out['strict_min_count'] == 7
  assert out['modes_covered_strict'] == 2


def test_toy_kl_matches_closed_form_for_an_uneven_histogram():
  # HQ histogram (3, 1, 0, 0) over 4 modes: KL(p || u) = 3/4 log 3 + 1/4 log 1.
  modes = RING_MODES[::2]
  samples = np.concatenate([np.tile(modes[0], (3, 1)), modes[1:2]])
  out = metrics.toy_mode_metrics(samples, modes, RING_STD)
  assert out['mode_kl'] == pytest.approx(0.75 * math.log(3), rel=1e-12)


def test_toy_metrics_assign_noisy_samples_to_their_generating_mode():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 8, size=4000)
  samples = RING_MODES[labels] + RING_STD * rng.normal(size=(4000, 2))
  out = metrics.toy_mode_metrics(samples, RING_MODES, RING_STD)
  # A 2D Gaussian lies within 3 sigma (radius) with probability 1 - exp(-4.5) = 98.9%.
  assert out['hq_percent'] == pytest.approx(100 * (1 - math.exp(-4.5)), abs=1.0)
  assert out['modes_covered_strict'] == 8
  assert out['mode_kl'] < 0.01


def test_toy_metrics_return_json_serialisable_python_numbers():
  out = metrics.toy_mode_metrics(np.repeat(RING_MODES, 2, axis=0), RING_MODES, RING_STD)
  assert all(type(v) in (int, float) for v in out.values())
  json.dumps(out)


# ---------------------------------------------------------------- sliced Wasserstein


def test_sliced_wasserstein_of_a_set_with_itself_is_zero():
  x = np.random.default_rng(0).normal(size=(300, 3))
  assert metrics.sliced_wasserstein(x, x, num_projections=64, rng=0) == 0.0


def test_sliced_wasserstein_of_a_translated_set_matches_closed_form():
  # y = x + v shifts every 1D projection by <theta, v>, so SW_2^2 = E <theta, v>^2
  # = |v|^2 / d for theta uniform on the sphere; 4000 directions give ~1% error.
  x = np.random.default_rng(1).normal(size=(200, 3))
  v = np.array([1.0, -2.0, 0.5])
  sw = metrics.sliced_wasserstein(x, x + v, num_projections=4000, rng=2)
  assert sw == pytest.approx(np.linalg.norm(v) / math.sqrt(3), rel=0.03)


def test_sliced_wasserstein_in_1d_equals_sorted_pairing_for_equal_sizes():
  # In 1D every direction is +-1 and W_p is invariant to flipping both sets.
  rng = np.random.default_rng(3)
  x, y = rng.normal(size=(50, 1)), rng.exponential(size=(50, 1))
  expected = math.sqrt(np.mean((np.sort(x[:, 0]) - np.sort(y[:, 0])) ** 2))
  sw = metrics.sliced_wasserstein(x, y, num_projections=5, rng=0, p=2)
  assert sw == pytest.approx(expected, rel=1e-12)


def test_sliced_wasserstein_in_1d_matches_scipy_w1_for_unequal_sizes():
  rng = np.random.default_rng(4)
  x, y = rng.normal(size=(37, 1)), 0.3 + 2 * rng.normal(size=(61, 1))
  expected = scipy.stats.wasserstein_distance(x[:, 0], y[:, 0])
  sw = metrics.sliced_wasserstein(x, y, num_projections=3, rng=0, p=1)
  assert sw == pytest.approx(expected, rel=1e-10)


def test_sliced_wasserstein_unequal_sizes_equal_repeating_both_sets_to_a_common_size():
  # Repeating a set leaves its empirical distribution unchanged.
  rng = np.random.default_rng(5)
  x, y = rng.normal(size=(6, 2)), rng.normal(size=(4, 2)) + 1.0
  direct = metrics.sliced_wasserstein(x, y, num_projections=32, rng=7)
  tiled = metrics.sliced_wasserstein(
      np.tile(x, (2, 1)), np.tile(y, (3, 1)), num_projections=32, rng=7
  )
  assert direct == pytest.approx(tiled, rel=1e-12)
  repeated = metrics.sliced_wasserstein(x, np.tile(x, (3, 1)), num_projections=32, rng=7)
  assert repeated == pytest.approx(0.0, abs=1e-12)


def test_sliced_wasserstein_is_small_for_one_distribution_and_grows_with_shift():
  rng = np.random.default_rng(6)
  x, y = rng.normal(size=(2000, 2)), rng.normal(size=(2000, 2))
  values = [
      metrics.sliced_wasserstein(x, y + shift, num_projections=128, rng=0)
      for shift in (0.0, 0.5, 1.0, 2.0)
  ]
  # Two finite samples of one distribution are not at distance 0, but far closer than
  # under the smallest shift (0.05 vs 0.45 with these seeds).
  assert values[0] < 0.25 * values[1]
  assert values[1] < values[2] < values[3]
  # A shift by (s, s) has length s * sqrt(2), i.e. SW_2 ~ s in 2D.
  assert values[3] == pytest.approx(2.0, rel=0.1)


def test_sliced_wasserstein_is_deterministic_given_rng_and_accepts_jax_keys():
  rng = np.random.default_rng(7)
  x, y = rng.normal(size=(100, 4)), rng.normal(size=(80, 4))
  key = jax.random.key(0)
  a = metrics.sliced_wasserstein(x, y, num_projections=8, rng=key)
  assert a == metrics.sliced_wasserstein(x, y, num_projections=8, rng=key)
  assert a == metrics.sliced_wasserstein(x, y, num_projections=8, rng=jax.random.PRNGKey(0))
  assert a != metrics.sliced_wasserstein(x, y, num_projections=8, rng=jax.random.key(1))
  assert metrics.sliced_wasserstein(x, y, num_projections=8, rng=3) == metrics.sliced_wasserstein(
      x, y, num_projections=8, rng=3
  )
  with pytest.raises(TypeError, match='Generator'):
    metrics.sliced_wasserstein(x, y, num_projections=8, rng=np.random.default_rng(0))


# ----------------------------------------------------------------------------- MMD


def _rbf_sum(bandwidths):
  return lambda a, b: sum(math.exp(-np.sum((a - b) ** 2) / (2 * s * s)) for s in bandwidths)


def test_mmd_rbf_equals_direct_double_loop_unbiased_estimator():
  rng = np.random.default_rng(8)
  x, y = rng.normal(size=(7, 3)), rng.normal(size=(5, 3)) + 0.4
  bandwidths = (0.5, 2.0)
  expected = _reference_unbiased_mmd2(x, y, _rbf_sum(bandwidths))
  assert metrics.mmd_rbf(x, y, bandwidths=bandwidths) == pytest.approx(expected, rel=1e-10)


def test_mmd_rbf_blocked_sum_matches_full_matrix_beyond_one_block():
  # Sizes above the 1024 block edge exercise off-diagonal and ragged blocks.
  rng = np.random.default_rng(9)
  x, y = rng.normal(size=(2100, 2)), rng.normal(size=(1100, 2)) + 0.2
  s = np.array([0.5, 1.0])

  def gram(a, b):
    d2 = np.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=-1)
    return np.exp(-d2[..., None] / (2 * s**2)).sum(-1)

  kxx, kyy, kxy = gram(x, x), gram(y, y), gram(x, y)
  n, m = len(x), len(y)
  expected = (
      (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
      + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
      - 2 * kxy.mean()
  )
  assert metrics.mmd_rbf(x, y, bandwidths=s) == pytest.approx(expected, rel=1e-9)


def test_mmd_rbf_is_near_zero_for_one_distribution_and_grows_with_shift():
  rng = np.random.default_rng(10)
  x, y = rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2))
  values = [metrics.mmd_rbf(x, y + shift, bandwidths=(0.5, 1.0, 2.0)) for shift in (0.0, 0.5, 1.0)]
  assert abs(values[0]) < 0.01
  assert 10 * abs(values[0]) < values[1] < values[2]


# ----------------------------------------------------------------- Frechet distance


def test_frechet_from_stats_matches_closed_form_for_diagonal_covariances():
  # Diagonal covariances commute: Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt a - sqrt b)^2.
  mu1, mu2 = np.array([0.0, 1.0, -2.0, 0.5]), np.array([1.0, 1.0, 0.0, 0.0])
  a, b = np.array([1.0, 4.0, 0.25, 2.0]), np.array([9.0, 1.0, 0.25, 0.5])
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  got = metrics.frechet_distance_from_stats(mu1, np.diag(a), mu2, np.diag(b))
  assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_from_stats_matches_eigendecomposition_reference_for_full_covariances():
  rng = np.random.default_rng(11)
  d = 8
  mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
  s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
  expected = (
      np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
      - 2 * _eigen_trace_sqrt_product(s1, s2)
  )
  assert metrics.frechet_distance_from_stats(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_identical_feature_sets_is_zero():
  feats = np.random.default_rng(12).normal(size=(500, 16))
  assert metrics.frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_matches_direct_numpy_reference():
  rng = np.random.default_rng(13)
  a = rng.normal(size=(400, 10)) @ rng.normal(size=(10, 10))
  b = rng.normal(size=(300, 10)) @ rng.normal(size=(10, 10)) + 0.3
  assert metrics.frechet_distance(a, b) == pytest.approx(_reference_frechet(a, b), rel=1e-8)


def test_frechet_distance_large_sample_estimate_approaches_gaussian_closed_form():
  rng = np.random.default_rng(14)
  d = 3
  mu1, mu2 = np.zeros(d), np.array([1.0, -0.5, 0.0])
  s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
  exact = metrics.frechet_distance_from_stats(mu1, s1, mu2, s2)
  a = rng.multivariate_normal(mu1, s1, size=50_000)
  b = rng.multivariate_normal(mu2, s2, size=50_000)
  # Over 100 seeds the estimate's error had std 0.031 (mostly the mean-difference term):
  # allow ~5 standard deviations of a value near 4.6.
  assert metrics.frechet_distance(a, b) == pytest.approx(exact, abs=0.15)


def test_frechet_distance_handles_one_dimensional_features():
  # In 1D the distance is (m1 - m2)^2 + (sd1 - sd2)^2.
  rng = np.random.default_rng(15)
  a, b = rng.normal(size=(200, 1)), 3 + 2 * rng.normal(size=(150, 1))
  expected = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
  assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_with_fewer_samples_than_dimensions_stays_finite_and_correct():
  # Rank-deficient covariances: the sqrtm path must still agree with the PSD reference.
  rng = np.random.default_rng(16)
  a, b = rng.normal(size=(6, 12)), rng.normal(size=(8, 12)) + 0.5
  got = metrics.frechet_distance(a, b)
  assert np.isfinite(got)
  assert got == pytest.approx(_reference_frechet(a, b), rel=1e-5)


def test_frechet_from_stats_rejects_a_covariance_that_is_not_psd():
  with pytest.raises(ValueError, match='imaginary'):
    metrics.frechet_distance_from_stats(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))


# ----------------------------------------------------------------------------- KID


def _cubic_kernel(d):
  return lambda a, b: (a @ b / d + 1) ** 3


def test_kid_equals_direct_unbiased_reference_when_subsets_are_whole_sets():
  # subset_size above both sizes is clamped to 10, so every subset is a permutation of
  # the whole set and every per-subset estimate equals the double-loop reference.
  rng = np.random.default_rng(17)
  a, b = rng.normal(size=(10, 4)), rng.normal(size=(10, 4)) + 0.3
  expected = _reference_unbiased_mmd2(a, b, _cubic_kernel(4))
  mean, se = metrics.kernel_inception_distance(a, b, num_subsets=3, subset_size=1000, rng=0)
  assert mean == pytest.approx(expected, rel=1e-10)
  assert se == pytest.approx(0.0, abs=1e-12)
  single_mean, single_se = metrics.kernel_inception_distance(
      a, b, num_subsets=1, subset_size=10, rng=0
  )
  assert single_mean == pytest.approx(expected, rel=1e-10)
  assert math.isnan(single_se)


def test_kid_is_within_a_few_standard_errors_of_zero_for_one_distribution():
  # Subsets of 250 from pools of 10000 barely overlap, so std_error is a fair error bar.
  # A biased (V-statistic) estimator would sit ~0.06 above 0 here, far outside it.
  rng = np.random.default_rng(18)
  a, b = rng.normal(size=(10_000, 16)), rng.normal(size=(10_000, 16))
  mean, se = metrics.kernel_inception_distance(a, b, num_subsets=20, subset_size=250, rng=1)
  assert se > 0
  assert abs(mean) < 3 * se


def test_kid_is_clearly_positive_for_shifted_distributions():
  rng = np.random.default_rng(19)
  a, b = rng.normal(size=(10_000, 16)), rng.normal(size=(10_000, 16)) + 0.5
  mean, se = metrics.kernel_inception_distance(a, b, num_subsets=20, subset_size=250, rng=1)
  assert mean > 10 * se > 0


def test_kid_is_deterministic_given_rng():
  rng = np.random.default_rng(20)
  a, b = rng.normal(size=(200, 5)), rng.normal(size=(150, 5))
  key = jax.random.key(3)
  first = metrics.kernel_inception_distance(a, b, num_subsets=4, subset_size=50, rng=key)
  assert first == metrics.kernel_inception_distance(a, b, num_subsets=4, subset_size=50, rng=key)
  assert first != metrics.kernel_inception_distance(a, b, num_subsets=4, subset_size=50, rng=jax.random.key(4))


# ------------------------------------------------------------- class histograms


def _one_hot(labels, k):
  return np.eye(k)[labels]


def test_class_metrics_balanced_confident_samples_cover_all_classes_with_zero_kl():
  probs = _one_hot(np.repeat(np.arange(10), 10), 10)
  out = metrics.class_histogram_metrics(probs, real_labels=np.arange(10).repeat(3))
  assert out['classes_covered'] == 10
  assert out['classes_covered_strict'] == 10
  assert out['num_classes'] == 10
  assert out['class_kl'] == pytest.approx(0.0, abs=1e-12)
  assert out['mean_max_prob'] == 1.0


def test_class_metrics_collapse_to_one_class_gives_kl_log_k():
  probs = _one_hot(np.full(64, 3), 10)
  out = metrics.class_histogram_metrics(probs, np.full(10, 0.1))
  assert out['classes_covered'] == 1
  assert out['class_kl'] == pytest.approx(math.log(10), rel=1e-12)


def test_class_metrics_strict_rule_drops_rare_classes():
  probs = _one_hot(np.array([0] * 990 + [1] * 9 + [2]), 3)
  out = metrics.class_histogram_metrics(probs, np.ones(3), strict_fraction=0.01)
  assert out['strict_min_count'] == 10
  assert out['classes_covered'] == 3
  assert out['classes_covered_strict'] == 1


def test_class_metrics_kl_against_a_non_uniform_real_histogram():
  # p_fake = (1/2, 1/2, 0), p_real = (1/4, 1/4, 1/2): KL = log 2; reversed support -> inf.
  probs = _one_hot(np.array([0, 1, 0, 1]), 3)
  kl = metrics.class_histogram_metrics(probs, [0.25, 0.25, 0.5])['class_kl']
  assert kl == pytest.approx(math.log(2), rel=1e-12)
  assert metrics.class_histogram_metrics(probs, [0.0, 1.0, 1.0])['class_kl'] == math.inf


def test_class_metrics_real_labels_counts_and_probabilities_agree():
  rng = np.random.default_rng(21)
  probs = rng.dirichlet(np.ones(5), size=300)
  labels = rng.integers(0, 5, size=400)
  counts = np.bincount(labels, minlength=5)
  from_labels = metrics.class_histogram_metrics(probs, real_labels=labels)
  from_counts = metrics.class_histogram_metrics(probs, counts)
  from_probs = metrics.class_histogram_metrics(probs, counts / counts.sum())
  assert from_labels == from_counts
  for key in from_labels:
    assert from_labels[key] == pytest.approx(from_probs[key], rel=1e-12)


def test_class_metrics_mean_max_prob_averages_per_sample_confidence():
  probs = np.array([[0.7, 0.2, 0.1], [0.4, 0.6, 0.0]])
  out = metrics.class_histogram_metrics(probs, np.ones(3))
  assert out['mean_max_prob'] == pytest.approx(0.65)
  assert out['classes_covered'] == 2


@pytest.mark.parametrize(
    'kwargs',
    [{}, {'real_hist': np.ones(3), 'real_labels': np.array([0, 1])}],
    ids=['neither', 'both'],
)
def test_class_metrics_require_exactly_one_real_distribution(kwargs):
  with pytest.raises(ValueError, match='exactly one'):
    metrics.class_histogram_metrics(np.full((2, 3), 1 / 3), **kwargs)


def test_class_metrics_reject_logits():
  with pytest.raises(ValueError, match='softmax'):
    metrics.class_histogram_metrics(np.array([[2.0, -1.0, 0.5]]), np.ones(3))


# ------------------------------------------------------------- feature statistics


def test_feature_statistics_are_float64_mean_and_unbiased_covariance():
  feats = np.random.default_rng(30).normal(size=(50, 4)).astype(np.float32)
  mu, sigma = metrics.feature_statistics(feats)
  x = feats.astype(np.float64)
  centred = x - x.sum(axis=0) / 50
  assert mu.dtype == sigma.dtype == np.float64
  np.testing.assert_allclose(mu, x.sum(axis=0) / 50, rtol=1e-14)
  np.testing.assert_allclose(sigma, centred.T @ centred / 49, rtol=1e-12)


# ----------------------------------------------------------------- Inception score


def _reference_inception_score(logits, splits):
  """openai/improved-gan's inception_score.py on softmax outputs, in float64."""
  e = np.exp(logits - logits.max(axis=1, keepdims=True))
  preds = e / e.sum(axis=1, keepdims=True)
  scores = []
  for i in range(splits):
    part = preds[(i * preds.shape[0] // splits):((i + 1) * preds.shape[0] // splits), :]
    kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
    kl = np.mean(np.sum(kl, 1))
    scores.append(np.exp(kl))
  return np.mean(scores), np.std(scores)


def test_inception_score_equals_the_original_code_for_uneven_splits():
  logits = np.random.default_rng(31).normal(size=(103, 7)) * 2.0
  mean, std = metrics.inception_score(logits, num_splits=10)
  ref_mean, ref_std = _reference_inception_score(logits, 10)
  assert mean == pytest.approx(ref_mean, rel=1e-12)
  assert std == pytest.approx(ref_std, rel=1e-10)


def test_inception_score_is_one_for_constant_predictions_and_k_for_confident_balanced_ones():
  assert metrics.inception_score(np.tile([0.3, -1.0, 2.0], (40, 1)), num_splits=4) == (
      pytest.approx(1.0, abs=1e-12), pytest.approx(0.0, abs=1e-12))
  # Every split holds each of K = 5 classes equally often with p(y|x) ~ one-hot:
  # KL(p(y|x) || p(y)) = log K for every x, so IS = K.
  confident = 50.0 * np.eye(5)[np.tile(np.arange(5), 20)]
  mean, std = metrics.inception_score(confident, num_splits=10)
  assert mean == pytest.approx(5.0, rel=1e-9)
  assert std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_shuffle_mixes_class_sorted_samples_as_torch_fidelity():
  # Sorted by class, each of 4 splits sees one class (IS 1); torch-fidelity's shuffle
  # (RandomState(seed).permutation) mixes them (IS near 4).
  confident = 50.0 * np.eye(4)[np.repeat(np.arange(4), 100)]
  assert metrics.inception_score(confident, num_splits=4)[0] == pytest.approx(1.0)
  shuffled = metrics.inception_score(confident, num_splits=4, shuffle_seed=2020)[0]
  assert shuffled > 3.9
  permuted = confident[np.random.RandomState(2020).permutation(400)]
  assert shuffled == metrics.inception_score(permuted, num_splits=4)[0]


def test_inception_score_rejects_fewer_samples_than_splits():
  with pytest.raises(ValueError, match='fewer than num_splits'):
    metrics.inception_score(np.zeros((9, 3)), num_splits=10)


# ------------------------------------------------- precision / recall / density / coverage


def test_prdc_on_a_line_matches_hand_computed_balls():
  # k = 1. Reals 0, 1, 3: NND_1 = 1, 1, 2. Fakes 0.5, 2.9, 10: NND_1 = 2.4, 2.4, 7.1.
  real = np.array([[0.0], [1.0], [3.0]])
  fake = np.array([[0.5], [2.9], [10.0]])
  out = prdc(real, fake, k=1)
  # precision: 0.5 lies in the balls of 0 and 1, 2.9 in that of 3, 10 in none -> 2/3.
  # density: (2 + 1 + 0) / 3 / k = 1. coverage: every real ball holds a fake -> 1.
  # recall: 0 and 1 lie within 2.4 of 0.5, 3 within 2.4 of 2.9 -> 1.
  assert out == {'precision': pytest.approx(2 / 3), 'recall': 1.0, 'density': 1.0,
                 'coverage': 1.0}
  # Strict "<": -1 and 5 lie exactly on the boundaries of the balls of 0 and 3.
  assert prdc(real, np.array([[-1.0], [5.0], [9.0]]), k=1)['precision'] == 0.0


@pytest.mark.parametrize('n_real,n_fake', [(300, 200), (1100, 1500)])
def test_prdc_equals_the_prdc_package(n_real, n_fake):
  prdc_package = pytest.importorskip('prdc')
  rng = np.random.default_rng(32)
  real = rng.normal(size=(n_real, 12))
  fake = 1.1 * rng.normal(size=(n_fake, 12)) + 0.2
  expected = prdc_package.compute_prdc(real, fake, nearest_k=5)
  assert prdc(real, fake, k=5) == {k: float(v) for k, v in expected.items()}


def test_prdc_rejects_sets_not_larger_than_k():
  with pytest.raises(ValueError, match='more than k=5'):
    prdc(np.zeros((5, 2)), np.zeros((10, 2)), k=5)
