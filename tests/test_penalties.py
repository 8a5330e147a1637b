"""The gradient penalty and the R1/R2 squared-gradient penalty against closed forms
and central finite differences in float64, for both methods; the methods against
each other; penalty points; weight clipping."""

import flax.linen as nn
import jax
from jax.flatten_util import ravel_pytree
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import penalties
from jaxgan import rng as rng_lib
from jaxgan.models import dcgan, mlp


class _SmoothMLP(nn.Module):
  """A critic with smooth activations, so finite differences are accurate."""

  @nn.compact
  def __call__(self, x):
    h = x.reshape(x.shape[0], -1)
    h = jnp.tanh(nn.Dense(16)(h))
    h = jnp.tanh(nn.Dense(16)(h))
    return nn.Dense(1)(h)[:, 0]


def _setup(model, x_shape, seed=0):
  kp, kx = jax.random.split(jax.random.PRNGKey(seed))
  x = jax.random.normal(kx, x_shape, jnp.float64)
  params = model.init(kp, x)["params"]
  params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
  return params, x


def _penalty(model, params, x, method, **kw):
  return penalties.gradient_penalty(lambda y: model.apply({"params": params}, y), x,
                                    method=method, **kw)


@pytest.fixture(autouse=True)
def _float64():
  with jax.enable_x64(True):
    yield


def test_inner_gradient_matches_finite_differences():
  model = _SmoothMLP()
  params, x = _setup(model, (4, 3))
  f = lambda y: jnp.sum(model.apply({"params": params}, y))
  grads = jax.grad(f)(x)
  h = 1e-6
  fd = np.zeros(x.shape)
  for idx in np.ndindex(*x.shape):
    e = jnp.zeros(x.shape).at[idx].set(h)
    fd[idx] = (f(x + e) - f(x - e)) / (2 * h)
  np.testing.assert_allclose(grads, fd, rtol=1e-7, atol=1e-9)
  # The norms the penalty reports are those of exactly this gradient.
  _, norms = _penalty(model, params, x, "double_backward", eps=0.0)
  np.testing.assert_allclose(norms, np.linalg.norm(fd, axis=1), rtol=1e-7)


@pytest.mark.parametrize("method", penalties.PENALTY_METHODS)
@pytest.mark.parametrize("one_sided", [False, True])
def test_parameter_gradient_matches_finite_differences_along_random_directions(
    method, one_sided):
  model = _SmoothMLP()
  params, x = _setup(model, (5, 3), seed=1)
  # target 2: some norms fall on each side, so the one-sided case is exercised.
  loss = lambda p: _penalty(model, p, x, method, target=2.0, one_sided=one_sided)[0]
  grads = jax.grad(loss)(params)
  flat_g, unravel = ravel_pytree(grads)
  flat_p, _ = ravel_pytree(params)
  rng = np.random.default_rng(0)
  for _ in range(4):
    v = rng.normal(size=flat_p.shape)
    v /= np.linalg.norm(v)
    h = 1e-5
    fd = (loss(unravel(flat_p + h * v)) - loss(unravel(flat_p - h * v))) / (2 * h)
    np.testing.assert_allclose(np.dot(flat_g, v), fd, rtol=1e-6, atol=1e-10)


def test_gradient_wrt_points_matches_finite_differences_for_jvp_method():
  # The jvp surrogate is exact w.r.t. x too (its x-derivative is H u).
  model = _SmoothMLP()
  params, x = _setup(model, (3, 2), seed=2)
  loss = lambda y: _penalty(model, params, y, "jvp")[0]
  g = jax.grad(loss)(x)
  h = 1e-6
  for idx in np.ndindex(*x.shape):
    e = jnp.zeros(x.shape).at[idx].set(h)
    np.testing.assert_allclose(g[idx], (loss(x + e) - loss(x - e)) / (2 * h), rtol=1e-6,
                               atol=1e-10)


@pytest.mark.parametrize("critic,x_shape", [
    (mlp.MLPCritic(hidden=(32, 32)), (6, 2)),
    (dcgan.DCGANCritic(image_size=8, width=8, norm="none"), (4, 8, 8, 1)),
    (dcgan.DCGANCritic(image_size=16, width=8, norm="layer"), (3, 16, 16, 3)),
], ids=["mlp", "conv", "conv_layernorm"])
def test_jvp_and_double_backward_agree_in_value_and_parameter_gradient(critic, x_shape):
  params, x = _setup(critic, x_shape, seed=3)
  results = {}
  for method in penalties.PENALTY_METHODS:
    value_and_grad = jax.value_and_grad(
        lambda p: _penalty(critic, p, x, method)[0])
    results[method] = value_and_grad(params)
  (v1, g1), (v2, g2) = results["double_backward"], results["jvp"]
  np.testing.assert_allclose(v1, v2, rtol=1e-6)
  flat1, _ = ravel_pytree(g1)
  flat2, _ = ravel_pytree(g2)
  assert np.linalg.norm(flat1) > 0
  np.testing.assert_allclose(flat2, flat1, rtol=1e-6, atol=1e-6 * np.abs(flat1).max())


def test_penalty_value_on_a_linear_critic_is_closed_form():
  # f(x) = w.x has gradient w everywhere: penalty = (||w|| - k)^2.
  w = jnp.array([3.0, 4.0])
  x = jnp.ones((7, 2))
  for method in penalties.PENALTY_METHODS:
    value, norms = penalties.gradient_penalty(lambda y: y @ w, x, method=method, target=1.0)
    np.testing.assert_allclose(norms, 5.0, rtol=1e-9)
    np.testing.assert_allclose(value, 16.0, rtol=1e-9)
    one_sided, _ = penalties.gradient_penalty(lambda y: y @ w, x, method=method,
                                              target=6.0, one_sided=True)
    assert one_sided == 0.0  # norm 5 < target 6: no penalty on the one-sided form
    two_sided, _ = penalties.gradient_penalty(lambda y: y @ w, x, method=method, target=6.0)
    np.testing.assert_allclose(two_sided, 1.0, rtol=1e-9)


def test_norm_is_over_every_non_batch_axis():
  x = jnp.ones((2, 3, 4, 5))
  _, norms = penalties.gradient_penalty(lambda y: jnp.sum(2.0 * y, axis=(1, 2, 3)), x,
                                        eps=0.0)
  np.testing.assert_allclose(norms, 2.0 * np.sqrt(60), rtol=1e-9)


def test_epsilon_keeps_the_penalty_gradient_finite_at_zero_gradient():
  # A critic whose input gradient is exactly zero at x: sqrt'(0) would be inf.
  w = jnp.array([0.0, 0.0])
  g = jax.grad(lambda w_: penalties.gradient_penalty(lambda y: y @ w_, jnp.ones((2, 2)))[0])(w)
  assert np.all(np.isfinite(g))


def test_unknown_method_is_rejected_with_the_allowed_ones():
  with pytest.raises(ValueError, match="'triple'.*double_backward, jvp"):
    penalties.gradient_penalty(lambda y: y.sum(1), jnp.ones((2, 2)), method="triple")


# --- R1 / R2: squared gradient norm ------------------------------------------------


def test_squared_gradient_penalty_on_a_linear_critic_is_half_the_squared_weight_norm():
  # f(x) = w.x: grad w everywhere, so 1/2 E||grad||^2 = ||w||^2 / 2 = 12.5.
  w = jnp.array([3.0, 4.0])
  for method in penalties.PENALTY_METHODS:
    value, norms = penalties.squared_gradient_penalty(lambda y: y @ w, jnp.ones((7, 2)),
                                                      method=method)
    np.testing.assert_allclose(value, 12.5, rtol=1e-12)
    np.testing.assert_allclose(norms, 5.0, rtol=1e-12)


def test_squared_gradient_penalty_of_a_quadratic_critic_is_the_per_example_closed_form():
  # f(x_b) = 1/2 x_b^T A x_b (A symmetric): grad A x_b, penalty 1/2 mean_b ||A x_b||^2,
  # over every non-batch axis of [B, 2, 3] points.
  rng = np.random.default_rng(0)
  a = rng.normal(size=(6, 6))
  a = a + a.T
  x = jnp.asarray(rng.normal(size=(5, 2, 3)))
  critic = lambda y: 0.5 * jnp.einsum("bi,ij,bj->b", y.reshape(5, 6), a, y.reshape(5, 6))
  grads = np.asarray(x).reshape(5, 6) @ a
  for method in penalties.PENALTY_METHODS:
    value, norms = penalties.squared_gradient_penalty(critic, x, method=method, eps=0.0)
    np.testing.assert_allclose(value, 0.5 * np.mean(np.sum(grads**2, axis=1)), rtol=1e-12)
    np.testing.assert_allclose(norms, np.linalg.norm(grads, axis=1), rtol=1e-12)


@pytest.mark.parametrize("method", penalties.PENALTY_METHODS)
def test_squared_gradient_penalty_parameter_gradient_matches_finite_differences(method):
  model = _SmoothMLP()
  params, x = _setup(model, (5, 3), seed=4)
  loss = lambda p: penalties.squared_gradient_penalty(
      lambda y: model.apply({"params": p}, y), x, method=method)[0]
  flat_g, unravel = ravel_pytree(jax.grad(loss)(params))
  flat_p, _ = ravel_pytree(params)
  rng = np.random.default_rng(1)
  for _ in range(4):
    v = rng.normal(size=flat_p.shape)
    v /= np.linalg.norm(v)
    h = 1e-5
    fd = (loss(unravel(flat_p + h * v)) - loss(unravel(flat_p - h * v))) / (2 * h)
    np.testing.assert_allclose(np.dot(flat_g, v), fd, rtol=1e-6, atol=1e-10)


def test_squared_gradient_penalty_gradient_wrt_points_matches_finite_differences_for_jvp():
  model = _SmoothMLP()
  params, x = _setup(model, (3, 2), seed=5)
  loss = lambda y: penalties.squared_gradient_penalty(
      lambda z: model.apply({"params": params}, z), y, method="jvp")[0]
  g = jax.grad(loss)(x)
  h = 1e-6
  for idx in np.ndindex(*x.shape):
    e = jnp.zeros(x.shape).at[idx].set(h)
    np.testing.assert_allclose(g[idx], (loss(x + e) - loss(x - e)) / (2 * h), rtol=1e-6,
                               atol=1e-10)


@pytest.mark.parametrize("critic,x_shape", [
    (mlp.MLPCritic(hidden=(32, 32)), (6, 2)),
    (dcgan.DCGANCritic(image_size=8, width=8, norm="layer"), (4, 8, 8, 1)),
], ids=["mlp", "conv_layernorm"])
def test_squared_gradient_penalty_methods_agree_in_value_and_parameter_gradient(
    critic, x_shape):
  params, x = _setup(critic, x_shape, seed=6)
  results = {}
  for method in penalties.PENALTY_METHODS:
    results[method] = jax.value_and_grad(lambda p: penalties.squared_gradient_penalty(
        lambda y: critic.apply({"params": p}, y), x, method=method)[0])(params)
  (v1, g1), (v2, g2) = results["double_backward"], results["jvp"]
  np.testing.assert_allclose(v2, v1, rtol=1e-10)
  flat1, flat2 = ravel_pytree(g1)[0], ravel_pytree(g2)[0]
  assert np.linalg.norm(flat1) > 0
  np.testing.assert_allclose(flat2, flat1, rtol=1e-8, atol=1e-12 * np.abs(flat1).max())


def test_squared_gradient_penalty_gradient_is_zero_not_nan_at_a_zero_input_gradient():
  # d/dw of ||w||^2 / 2 is w = 0 here; the reported norms' sqrt must not leak a NaN.
  for method in penalties.PENALTY_METHODS:
    g = jax.grad(lambda w_: penalties.squared_gradient_penalty(
        lambda y: y @ w_, jnp.ones((2, 2)), method=method)[0])(jnp.zeros(2))
    np.testing.assert_array_equal(g, 0.0)


def test_squared_gradient_penalty_rejects_an_unknown_method():
  with pytest.raises(ValueError, match="'triple'.*double_backward, jvp"):
    penalties.squared_gradient_penalty(lambda y: y.sum(1), jnp.ones((2, 2)), method="triple")


# --- Penalty points ---------------------------------------------------------------


def _keys(n, seed=0):
  return rng_lib.example_keys(jax.random.PRNGKey(seed), 0, n)


def test_interpolates_lie_on_the_segment_with_uniform_eps_per_example():
  n = 4000
  real = jnp.ones((n, 3))
  fake = -jnp.ones((n, 3))
  points = penalties.interpolates(_keys(n), real, fake)
  # eps*1 + (1-eps)*(-1) = 2 eps - 1, the same eps for every coordinate of an example
  eps = (np.asarray(points) + 1) / 2
  np.testing.assert_allclose(eps, eps[:, :1].repeat(3, 1), atol=1e-12)
  assert eps.min() >= 0 and eps.max() <= 1
  assert abs(eps[:, 0].mean() - 0.5) < 0.02 and abs(eps[:, 0].var() - 1 / 12) < 0.01


def test_dragan_gaussian_perturbation_has_variance_c():
  n = 2000
  real = jnp.zeros((n, 8, 8, 1))
  points = penalties.dragan_points(_keys(n), real, perturbation="gaussian",
                                   noise_variance=10.0, noise_scale=0.5)
  delta = np.asarray(points)
  assert abs(delta.mean()) < 0.02
  np.testing.assert_allclose(delta.var(), 10.0, rtol=0.02)


def test_dragan_std_uniform_matches_authors_code_statistics():
  # x_p = x + 0.5 std(x) U[0,1]; point = x + alpha (x_p - x): offsets are
  # 0.5 std(x) * alpha * u with alpha, u ~ U[0,1], so mean 0.5 std(x)/4, in [0, 0.5 std(x)].
  n = 3000
  real = jax.random.normal(jax.random.PRNGKey(5), (n, 16)) * 2.0
  points = penalties.dragan_points(_keys(n, 1), real, perturbation="std_uniform",
                                   noise_variance=10.0, noise_scale=0.5)
  offset = np.asarray(points - real)
  std = float(jnp.std(real))
  assert offset.min() >= 0 and offset.max() <= 0.5 * std + 1e-9
  np.testing.assert_allclose(offset.mean(), 0.5 * std / 4, rtol=0.03)
  # alpha is per example: offsets within one example share it, so the per-example
  # mean spreads far more than an elementwise-independent draw would.
  assert offset.mean(axis=1).std() > 0.5 * offset.std() / np.sqrt(16) * 1.5


def test_unknown_dragan_perturbation_is_rejected():
  with pytest.raises(ValueError, match="'salt'.*gaussian, std_uniform"):
    penalties.dragan_points(_keys(2), jnp.zeros((2, 3)), perturbation="salt",
                            noise_variance=1.0, noise_scale=0.5)


# --- Weight clipping --------------------------------------------------------------


def test_weight_clipping_keeps_every_parameter_in_the_box():
  params = mlp.MLPCritic(hidden=(64, 64)).init(jax.random.PRNGKey(0), jnp.ones((1, 2)))["params"]
  params = jax.tree.map(lambda p: p * 100.0 + 0.3, params)
  clipped = penalties.clip_weights(params, 0.01)
  leaves = jax.tree.leaves(clipped)
  assert all(float(jnp.max(jnp.abs(l))) <= 0.01 for l in leaves)
  # Values already inside the box are untouched.
  small = jax.tree.map(lambda p: p * 0 + 0.005, params)
  assert all(np.all(l == 0.005) for l in jax.tree.leaves(penalties.clip_weights(small, 0.01)))
