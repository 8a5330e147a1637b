"""Each loss against values computed by hand on fixed scores; the registry's errors."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import losses

D_REAL = jnp.array([2.0, 0.0, -1.0])
D_FAKE = jnp.array([-2.0, 1.0])


def _softplus(t):
  return math.log1p(math.exp(t))


def test_wasserstein_critic_loss_is_mean_fake_minus_mean_real():
  # mean(fake) = -0.5, mean(real) = 1/3
  np.testing.assert_allclose(losses.wasserstein_critic_loss(D_REAL, D_FAKE), -0.5 - 1 / 3,
                             rtol=1e-6)
  np.testing.assert_allclose(losses.wasserstein_generator_loss(D_FAKE), 0.5, rtol=1e-6)


def test_non_saturating_is_binary_cross_entropy_on_logits():
  real_term = np.mean([_softplus(-2.0), _softplus(0.0), _softplus(1.0)])
  fake_term = np.mean([_softplus(-2.0), _softplus(1.0)])
  np.testing.assert_allclose(losses.non_saturating_critic_loss(D_REAL, D_FAKE),
                             real_term + fake_term, rtol=1e-6)
  # -log sigmoid(t) = softplus(-t)
  np.testing.assert_allclose(losses.non_saturating_generator_loss(D_FAKE),
                             np.mean([_softplus(2.0), _softplus(-1.0)]), rtol=1e-6)


def test_minimax_generator_loss_is_log_one_minus_sigmoid():
  sig = lambda t: 1 / (1 + math.exp(-t))
  expected = np.mean([math.log(1 - sig(-2.0)), math.log(1 - sig(1.0))])
  np.testing.assert_allclose(losses.minimax_generator_loss(D_FAKE), expected, rtol=1e-6)


def test_non_saturating_losses_stay_finite_for_huge_logits():
  big = jnp.array([1e4, -1e4])
  assert np.isfinite(losses.non_saturating_critic_loss(big, big))
  assert np.isfinite(losses.non_saturating_generator_loss(big))


def test_least_squares_matches_lsgan_equation_with_01_coding():
  # 1/2 mean((real-1)^2) + 1/2 mean((fake-0)^2)
  expected = 0.5 * np.mean([1.0, 1.0, 4.0]) + 0.5 * np.mean([4.0, 1.0])
  np.testing.assert_allclose(losses.least_squares_critic_loss(D_REAL, D_FAKE), expected,
                             rtol=1e-6)
  np.testing.assert_allclose(losses.least_squares_generator_loss(D_FAKE),
                             0.5 * np.mean([9.0, 0.0]), rtol=1e-6)


def test_least_squares_targets_come_from_options():
  loss = losses.get_loss("least_squares", a=-1.0, b=1.0, c=0.0)
  expected = 0.5 * np.mean([1.0, 1.0, 4.0]) + 0.5 * np.mean([1.0, 4.0])
  np.testing.assert_allclose(loss.critic_loss(D_REAL, D_FAKE), expected, rtol=1e-6)
  np.testing.assert_allclose(loss.generator_loss(D_FAKE), 0.5 * np.mean([4.0, 1.0]),
                             rtol=1e-6)


def test_hinge_losses():
  # relu(1 - real) = [0, 1, 2]; relu(1 + fake) = [0, 2]
  np.testing.assert_allclose(losses.hinge_critic_loss(D_REAL, D_FAKE), 1.0 + 1.0, rtol=1e-6)
  np.testing.assert_allclose(losses.hinge_generator_loss(D_FAKE), 0.5, rtol=1e-6)


@pytest.mark.parametrize("name", losses.LOSS_NAMES)
def test_every_registered_loss_returns_a_scalar(name):
  loss = losses.get_loss(name)
  assert loss.critic_loss(D_REAL, D_FAKE).shape == ()
  assert loss.generator_loss(D_FAKE).shape == ()


def test_unknown_loss_name_lists_the_allowed_names():
  with pytest.raises(ValueError, match=r"'wasserstien'.*wasserstein, non_saturating"):
    losses.get_loss("wasserstien")


def test_option_on_a_loss_that_takes_none_is_rejected():
  with pytest.raises(ValueError, match=r"takes no option\(s\) \['a'\]"):
    losses.get_loss("wasserstein", a=0.0)
