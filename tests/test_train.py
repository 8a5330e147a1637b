"""The compiled train step: fori_loop vs a plain Python loop, determinism, clipping,
BatchNorm handling, per-example randomness."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import dragan, lsgan, nsgan, wgan, wgan_gp
from jaxgan import errors
from jaxgan import factory
from jaxgan import validation
from jaxgan import rng as rng_lib
from jaxgan import train as train_lib


def _small(config, *, n_critic=3, batch=8):
  config.train.n_critic = n_critic
  config.train.batch_size = batch
  config.model.hidden = (16, 16)
  config.model.width = 8
  return config


def _setup(config, seed=0):
  shape = validation.validate(config)
  spec = factory.make_step_spec(config, shape)
  state = train_lib.init_state(spec, jax.random.PRNGKey(seed), shape)
  real = jax.random.normal(jax.random.PRNGKey(seed + 100),
                           (config.train.n_critic, config.train.batch_size) + shape)
  if len(shape) == 3:
    real = jnp.tanh(real)
  return spec, state, real


def _python_loop_step(spec, state, real):
  """The same updates as train_step, written as a plain Python loop."""
  keys = rng_lib.step_keys(state.key, state.step, ("critic", "generator"))
  for i in range(spec.n_critic):
    params, opt_state, batch_stats, _ = train_lib.critic_update(
        spec, state, real[i], jax.random.fold_in(keys["critic"], i))
    state = state.replace(critic_params=params, critic_opt_state=opt_state,
                          generator_batch_stats=batch_stats)
  g_params, g_opt, batch_stats, _ = train_lib.generator_update(
      spec, state, real.shape[1], keys["generator"])
  return state.replace(step=state.step + 1, generator_params=g_params,
                       generator_opt_state=g_opt, generator_batch_stats=batch_stats)


def _assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@pytest.mark.parametrize("variant,backend,expected", [
    ("dataset=cifar10", "cpu", 5),     # DCGAN on XLA:CPU: fully unrolled (rolled 32x slower)
    ("dataset=digits", "cpu", 5),      # digits MLP: unrolled (rolled 6% slower)
    ("dataset=8gaussians", "cpu", 1),  # toy MLP: the recipe sets rolled (1.08-1.18x)
    ("dataset=cifar10", "gpu", 1),     # other backends: rolled
])
def test_critic_unroll_defaults_follow_the_measurements(variant, backend, expected):
  config = wgan_gp.get_config(variant)
  assert config.train.n_critic == 5
  assert factory.resolve_unroll(config, backend) == expected
  config.train.critic_unroll = 3  # an explicit factor always wins
  assert factory.resolve_unroll(config, backend) == 3
  config.train.critic_unroll = 9  # capped at n_critic
  assert factory.resolve_unroll(config, backend) == 5


@pytest.mark.parametrize("recipe,variant,unroll", [
    (wgan_gp, "dataset=8gaussians", 1),
    (wgan_gp, "dataset=8gaussians", 3),
    (wgan_gp, "dataset=digits,arch=dcgan", 3),  # conv critic, generator BatchNorm
    (wgan, "dataset=digits,arch=dcgan", 1),     # weight clipping inside the loop
])
def test_fori_loop_step_equals_python_loop(recipe, variant, unroll):
  config = _small(recipe.get_config(variant))
  config.train.critic_unroll = unroll
  spec, state, real = _setup(config)
  assert spec.unroll == unroll
  compiled, _ = jax.jit(functools.partial(train_lib.train_step, spec=spec))(state, real)
  reference = jax.jit(functools.partial(_python_loop_step, spec))(state, real)
  _assert_trees_close(compiled, reference)
  assert int(compiled.step) == 1
  # And the step did something: critic and generator both moved.
  for field in ("critic_params", "generator_params"):
    moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))),
                         getattr(compiled, field), getattr(state, field))
    assert max(jax.tree.leaves(moved)) > 0


def test_step_is_deterministic_and_draws_depend_on_the_step():
  config = _small(wgan_gp.get_config("dataset=25gaussians"))
  spec, state, real = _setup(config)
  step = jax.jit(functools.partial(train_lib.train_step, spec=spec))
  a, _ = step(state, real)
  b, _ = step(state, real)
  _assert_trees_close(a, b, rtol=0, atol=0)
  # Same params but a later step counter: different latents -> different update.
  c, _ = step(state.replace(step=jnp.int32(7)), real)
  diff = jax.tree.map(lambda x, y: float(jnp.max(jnp.abs(x - y))), a.critic_params,
                      c.critic_params)
  assert max(jax.tree.leaves(diff)) > 0


def test_metrics_are_a_flat_dict_of_finite_scalars():
  config = _small(wgan_gp.get_config("dataset=digits,arch=dcgan"))
  spec, state, real = _setup(config)
  _, metrics = jax.jit(functools.partial(train_lib.train_step, spec=spec))(state, real)
  for key in ("critic/loss", "critic/loss_unregularised", "critic/penalty",
              "critic/grad_norm_mean", "critic/wasserstein_estimate", "generator/loss",
              "critic/param_grad_norm", "generator/param_grad_norm"):
    assert metrics[key].shape == () and np.isfinite(metrics[key]), key
  assert float(metrics["critic/penalty"]) > 0
  np.testing.assert_allclose(
      metrics["critic/loss"],
      metrics["critic/loss_unregularised"] + 10.0 * metrics["critic/penalty"], rtol=1e-5)


def test_no_penalty_recipe_reports_zero_penalty():
  config = _small(lsgan.get_config("dataset=swissroll"), n_critic=1)
  spec, state, real = _setup(config)
  _, metrics = jax.jit(functools.partial(train_lib.train_step, spec=spec))(state, real)
  assert float(metrics["critic/penalty"]) == 0.0


def test_weight_clipping_holds_after_every_step():
  config = _small(wgan.get_config("dataset=8gaussians"))
  config.optimizer.critic.learning_rate = 0.1  # large steps push params out of the box
  spec, state, real = _setup(config)
  step = jax.jit(functools.partial(train_lib.train_step, spec=spec))
  for _ in range(3):
    state, _ = step(state, real)
    biggest = max(float(jnp.max(jnp.abs(p))) for p in jax.tree.leaves(state.critic_params))
    assert biggest <= 0.01 + 1e-7
  # Clipping binds: some parameter sits on the boundary.
  assert any(float(jnp.max(jnp.abs(p))) >= 0.01 - 1e-7
             for p in jax.tree.leaves(state.critic_params))


@pytest.mark.parametrize("perturbation", ["gaussian", "std_uniform"])
def test_dragan_step_runs_with_both_perturbations(perturbation):
  config = _small(dragan.get_config(f"dataset=digits,arch=dcgan,perturbation={perturbation}"),
                  n_critic=1)
  spec, state, real = _setup(config)
  _, metrics = jax.jit(functools.partial(train_lib.train_step, spec=spec))(state, real)
  assert float(metrics["critic/penalty"]) > 0 and np.isfinite(metrics["critic/loss"])


def test_generator_batch_norm_running_stats_update_in_training_only():
  config = _small(wgan_gp.get_config("dataset=digits,arch=dcgan"))
  spec, state, real = _setup(config)
  new_state, _ = jax.jit(functools.partial(train_lib.train_step, spec=spec))(state, real)
  before = jax.tree.leaves(state.generator_batch_stats)
  after = jax.tree.leaves(new_state.generator_batch_stats)
  assert before and any(float(jnp.max(jnp.abs(a - b))) > 0 for a, b in zip(before, after))
  # Eval mode uses running averages: a sample does not depend on its batch mates.
  z = jax.random.normal(jax.random.PRNGKey(1), (6, config.model.z_dim))
  full, _ = train_lib.generate(spec, new_state.generator_params,
                               new_state.generator_batch_stats, z, train=False)
  part, _ = train_lib.generate(spec, new_state.generator_params,
                               new_state.generator_batch_stats, z[:2], train=False)
  np.testing.assert_allclose(full[:2], part, rtol=1e-5, atol=1e-6)


def test_per_example_draws_do_not_depend_on_how_the_batch_is_split():
  key = jax.random.PRNGKey(3)
  whole = rng_lib.normal(rng_lib.example_keys(key, 0, 8), (4,))
  halves = jnp.concatenate([rng_lib.normal(rng_lib.example_keys(key, 0, 4), (4,)),
                            rng_lib.normal(rng_lib.example_keys(key, 4, 4), (4,))])
  np.testing.assert_array_equal(whole, halves)


def test_ema_tracks_generator_weights_when_enabled():
  config = _small(wgan_gp.get_config("dataset=8gaussians"))
  config.ema.enabled = True
  config.ema.decay = 0.5
  spec, state, real = _setup(config)
  new_state, _ = jax.jit(functools.partial(train_lib.train_step, spec=spec))(state, real)
  expected = jax.tree.map(lambda e, p: 0.5 * e + 0.5 * p, state.ema_params,
                          new_state.generator_params)
  _assert_trees_close(new_state.ema_params, expected)


@pytest.mark.parametrize("recipe", [wgan, wgan_gp, dragan, lsgan, nsgan],
                         ids=lambda m: m.__name__.split(".")[-1])
@pytest.mark.parametrize("dataset", ["digits", "8gaussians", "25gaussians", "swissroll"])
def test_every_recipe_trains_on_digits_and_every_toy_set(recipe, dataset):
  config = _small(recipe.get_config(f"dataset={dataset}"), batch=4)
  config.train.n_critic = min(config.train.n_critic, 2)
  spec, state, real = _setup(config)
  step = jax.jit(functools.partial(train_lib.train_step, spec=spec))
  for _ in range(2):
    state, metrics = step(state, real)
  assert int(state.step) == 2
  assert all(np.isfinite(float(v)) for v in metrics.values())
