"""The compiled train step: golden values of one step per loss family, fori_loop vs
a plain Python loop, determinism, clipping, BatchNorm handling, per-example
randomness, the learning rates it reports; the CIFAR-10 recipes' pieces: spectral
norm's u through the step and a checkpoint, lazy regularisation, the generator's
batch size and dequantisation."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import lsgan, nsgan, sngan, wgan, wgan_gp
import golden_step
from jaxgan import checkpoint as checkpoint_lib
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
    state, _ = train_lib.critic_update(spec, state, real[i],
                                       jax.random.fold_in(keys["critic"], i), index=i)
  state, _ = train_lib.generator_update(spec, state, real.shape[1], keys["generator"])
  return state.replace(step=state.step + 1)


def _assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@pytest.mark.parametrize("variant,backend,expected", [
    # benchmarks/results/step_throughput.md rows 2.rolled, 3.unroll and 1.unroll:
    ("dataset=cifar10", "cpu", 5),     # DCGAN on XLA:CPU: fully unrolled (rolled far slower)
    ("dataset=digits", "cpu", 5),      # digits MLP: unrolled (rolled slower)
    ("dataset=8gaussians", "cpu", 1),  # toy MLP: the recipe sets rolled
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


# One train_step of each case in tests/golden_step.py (fixed seed, fixed batch).
# Computed by this code on XLA:CPU; equal to the pmap-era step's numbers bit for bit.
GOLDEN = {
    'wgan_gp_8gaussians_mlp': {
        'critic/loss': 0.014990906231105328,
        'critic/penalty': 0.6103336215019226,
        'generator/loss': 0.05511566251516342,
        'critic/param_grad_norm': 1.0253657102584839,
        'generator/param_grad_norm': 0.33735716342926025,
    },
    'wgan_clip_digits_dcgan': {
        'critic/loss': -0.00030836593941785395,
        'critic/penalty': 0.0,
        'generator/loss': 0.000538499909453094,
        'critic/param_grad_norm': 0.12845587730407715,
        'generator/param_grad_norm': 0.007841049693524837,
    },
    'dragan_digits_dcgan_bn': {
        'critic/loss': 2.8633859157562256,
        'critic/penalty': 0.15712463855743408,
        'generator/loss': 0.7118679285049438,
        'critic/param_grad_norm': 7.993475437164307,
        'generator/param_grad_norm': 0.6903741955757141,
    },
    'lsgan_digits_mlp': {
        'critic/loss': 0.6553087830543518,
        'critic/penalty': 0.0,
        'generator/loss': 0.42902228236198425,
        'critic/param_grad_norm': 1.7210757732391357,
        'generator/param_grad_norm': 0.6024534106254578,
    },
    'nsgan_digits_mlp': {
        'critic/loss': 1.480586051940918,
        'critic/penalty': 0.0,
        'generator/loss': 0.6571695804595947,
        'critic/param_grad_norm': 0.6011256575584412,
        'generator/param_grad_norm': 0.30784130096435547,
    },
    'sngan_digits_dcgan_sn': {
        'critic/loss': 1.8990973234176636,
        'critic/penalty': 0.0,
        'generator/loss': -0.010548252612352371,
        'critic/param_grad_norm': 1.9599285125732422,
        'generator/param_grad_norm': 0.49977073073387146,
    },
}


@pytest.mark.parametrize("case", sorted(golden_step.CASES))
def test_one_step_reproduces_its_golden_values(case):
  got = golden_step.run_case(case)
  expected = GOLDEN[case]
  wrong = {k: (got[k], v) for k, v in expected.items()
           if not np.isclose(got[k], v, rtol=1e-4, atol=1e-7)}
  last = golden_step.CHANGES.get(case)
  assert not wrong, (
      f"train_step's numbers for {case!r} changed (got, golden): {wrong}. If the change "
      f"is intended, run `python tests/golden_step.py` and paste its output over GOLDEN "
      f"in tests/test_train.py, saying in the commit (and in golden_step.CHANGES) why "
      f"the numbers moved." + (f" Last deliberate change: {last}." if last else ""))


def test_the_reported_learning_rates_follow_the_linear_decay():
  config = _small(wgan_gp.get_config("dataset=8gaussians"), n_critic=2)
  assert config.optimizer.generator.schedule == "linear"
  config.train.num_steps = 10
  config.optimizer.decay_steps = 4  # the horizon, set apart from the run's length
  spec, state, real = _setup(config)
  step = jax.jit(functools.partial(train_lib.train_step, spec=spec))
  rates = []
  for _ in range(5):
    state, metrics = step(state, real)
    rates.append((float(metrics["generator/learning_rate"]),
                  float(metrics["critic/learning_rate"])))
  lr = config.optimizer.generator.learning_rate
  # Generator step s uses lr * (1 - s/4); the critic's first update of step s is
  # update 2s of 8.
  expected = [(lr * max(0.0, 1 - s / 4), lr * max(0.0, 1 - 2 * s / 8)) for s in range(5)]
  np.testing.assert_allclose(rates, expected, rtol=1e-6, atol=1e-12)


# --- The CIFAR-10 recipes' pieces ------------------------------------------------------


def _power_iteration(u, kernel):
  """One step of Miyato et al.'s Algorithm 1 in numpy: u <- normalize(W^T normalize(W u))."""
  w = np.asarray(kernel, np.float64).reshape(-1, kernel.shape[-1])
  v = np.asarray(u, np.float64) @ w.T
  v /= np.linalg.norm(v)
  u = v @ w
  return u / np.linalg.norm(u)


def _spectral_kernels(spectral, params):
  """[(path, u, kernel)] for every spectrally normalised layer.

  The u of layer L lives at .../L_sn/"L/kernel/u"; its kernel at .../L/kernel.
  """
  out = []
  for path, u in jax.tree_util.tree_flatten_with_path(spectral)[0]:
    name = path[-1].key
    if not name.endswith("/u"):
      continue
    node = params
    for k in path[:-2]:
      node = node[k.key]
    out.append((jax.tree_util.keystr(path), u, node[name.split("/")[0]]["kernel"]))
  return out


def _small_resnet(recipe, variant, n_critic=2, batch=4):
  config = recipe.get_config(variant)
  config.model.width = 8
  config.model.generator_width = 8
  config.model.spectral_norm = True  # SNGAN's; the WGAN-GP ResNet's option
  config.train.n_critic = n_critic
  config.train.batch_size = batch
  config.train.generator_batch_size = 2 * batch  # the recipes' ratio (128 / 64)
  return config


@pytest.mark.slow
@pytest.mark.parametrize("recipe,variant,iteration", [
    (wgan_gp, "dataset=cifar10,arch=resnet", "per_update"),
    (sngan, "dataset=cifar10", "per_call")], ids=["wgan_gp_resnet_sn", "sngan"])
def test_resnet_recipe_step_advances_u_as_its_recipe_says_and_checkpoints_it(
    recipe, variant, iteration, tmp_path):
  config = _small_resnet(recipe, variant)
  assert config.model.spectral_norm_iteration == iteration  # the recipe's default
  spec, state, real = _setup(config)
  assert real.shape[2:] == (32, 32, 3) and spec.critic.spectral_norm
  step = jax.jit(functools.partial(train_lib.train_step, spec=spec))
  new, metrics = step(state, real)
  assert all(np.isfinite(float(v)) for v in metrics.values())

  # The critic parameters each of the step's two updates started from.
  keys = rng_lib.step_keys(state.key, state.step, ("critic", "generator"))
  after_first, _ = jax.jit(lambda s, r: train_lib.critic_update(
      spec, s, r, jax.random.fold_in(keys["critic"], 0), index=0))(state, real[0])
  before = {path: (u, k0) for path, u, k0 in
            _spectral_kernels(state.critic_spectral, state.critic_params)}
  second = {path: k1 for path, _, k1 in
            _spectral_kernels(after_first.critic_spectral, after_first.critic_params)}
  got = _spectral_kernels(new.critic_spectral, new.critic_params)
  assert len(got) == 11  # every conv and the output linear
  one_more = 0.0
  for path, u, k2 in got:
    u0, k0 = before[path]
    if iteration == "per_update":
      # Exactly n_critic = 2 iterations, each from the parameters of its update; the
      # generator update (which scores fakes) advanced nothing.
      expected = _power_iteration(_power_iteration(u0, k0), second[path])
    else:
      # The SNGAN authors' updater: each critic update's reals and fakes calls advance
      # u once each (2 x 2 from the parameters of their update), and the generator
      # update's call once more, from the critic it scored with (k2).
      expected = u0
      for kernel in (k0, k0, second[path], second[path], k2):
        expected = _power_iteration(expected, kernel)
    np.testing.assert_allclose(np.asarray(u), expected, rtol=1e-4, atol=1e-5, err_msg=path)
    one_more = max(one_more, float(np.abs(_power_iteration(expected, k2) - expected).max()))
  assert one_more > 1e-4  # one iteration more (or fewer) would have shown

  # A checkpoint round trip restores u, and the restored run continues identically.
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path / "checkpoints"))
  ckpt.save(1, jax.device_get(new), data_position=1, config_json={})
  ckpt.wait_until_finished()
  abstract = jax.eval_shape(
      functools.partial(train_lib.init_state, spec, sample_shape=real.shape[2:]),
      jax.random.PRNGKey(0))
  step_no, restored, position = ckpt.restore(abstract, 1)
  ckpt.close()
  assert (step_no, position) == (1, 1)
  _assert_trees_close(restored.critic_spectral, new.critic_spectral, rtol=0, atol=0)
  assert jax.tree.structure(restored.critic_spectral) == jax.tree.structure(
      new.critic_spectral)
  _assert_trees_close(step(restored, real)[0], step(new, real)[0], rtol=0, atol=0)


def _lazy_reference(spec, state, real, weights):
  """One step with StyleGAN2's lazy rule written out: critic update i uses the
  every-update penalty with weight `weights[i]` (weight x interval where
  step * n_critic + i is a multiple of the interval, else 0; computed by the
  caller). Returns (state, the penalty of each update)."""
  every = dataclasses.replace(spec, penalty=dataclasses.replace(spec.penalty,
                                                                lazy_interval=1))
  keys = rng_lib.step_keys(state.key, state.step, ("critic", "generator"))
  values = []
  for i in range(spec.n_critic):
    hp = spec.hparams.replace(penalty_weight=weights[i])
    state, metrics = train_lib.critic_update(every, state, real[i],
                                             jax.random.fold_in(keys["critic"], i), hp, i)
    values.append(metrics["critic/penalty"])
  state, _ = train_lib.generator_update(every, state, real.shape[1], keys["generator"])
  return state.replace(step=state.step + 1), jnp.stack(values)


@pytest.mark.parametrize("n_critic,interval", [(3, 2), (1, 3)])
def test_lazy_penalty_is_applied_on_every_kth_update_with_its_weight_times_k(
    n_critic, interval):
  config = _small(nsgan.get_config("dataset=8gaussians,penalty=r1"), n_critic=n_critic)
  config.penalty.lazy_interval = interval
  spec, state, real = _setup(config)
  weight = spec.hparams.penalty_weight
  assert spec.penalty.lazy_interval == interval and weight == 20.0
  step = jax.jit(functools.partial(train_lib.train_step, spec=spec))
  reference = jax.jit(functools.partial(_lazy_reference, spec))
  lazy, ref = state, state
  for s in range(4):
    applied = [(s * n_critic + i) % interval == 0 for i in range(n_critic)]
    lazy, metrics = step(lazy, real)
    ref, penalties = reference(ref, real, jnp.asarray(
        [weight * interval if a else 0.0 for a in applied], jnp.float32))
    _assert_trees_close(lazy, ref, rtol=1e-5, atol=1e-6)
    assert float(metrics["critic/penalty_updates"]) == sum(applied)
    # The penalty metric is the mean over the updates that applied it (0 if none).
    expected = float(np.mean(np.asarray(penalties)[applied])) if any(applied) else 0.0
    np.testing.assert_allclose(float(metrics["critic/penalty"]), expected, rtol=1e-5)
    if any(applied):
      assert expected > 0


def _toy_linear_critic(config):
  """(spec, state, real) of `config` with a linear critic D(x) = w.x + b."""
  from jaxgan.models import mlp  # pylint: disable=import-outside-toplevel
  shape = validation.validate(config)
  spec = dataclasses.replace(factory.make_step_spec(config, shape),
                             critic=mlp.MLPCritic(hidden=()))
  state = train_lib.init_state(spec, jax.random.PRNGKey(0), shape)
  real = jax.random.normal(jax.random.PRNGKey(100),
                           (config.train.n_critic, config.train.batch_size) + shape)
  return spec, state, real


def test_dequantisation_shifts_a_linear_critics_real_score_by_w_times_the_noise_mean():
  # D(x) = w.x + b sees real + U[0, d): its mean real score moves by w . mean(noise),
  # d/2 * sum(w) in expectation with standard deviation d * sqrt(|w|^2 / (12 B)).
  # The fakes (and so their scores) do not change.
  batch, d = 4096, 0.5
  config = _small(wgan_gp.get_config("dataset=8gaussians"), n_critic=1, batch=batch)
  scores = {}
  for dequantization in (0.0, d):
    config.train.dequantization = dequantization
    spec, state, real = _toy_linear_critic(config)
    assert spec.dequantization == dequantization
    _, metrics = jax.jit(functools.partial(train_lib.train_step, spec=spec))(state, real)
    scores[dequantization] = float(metrics["critic/score_real"]), float(
        metrics["critic/score_fake"])
  w = np.asarray(state.critic_params["Dense_0"]["kernel"][:, 0], np.float64)
  b = float(state.critic_params["Dense_0"]["bias"][0])
  np.testing.assert_allclose(scores[0.0][0], float(np.mean(np.asarray(real[0]) @ w)) + b,
                             rtol=1e-5, atol=1e-6)
  shift = scores[d][0] - scores[0.0][0]
  sigma = d * np.sqrt(np.sum(w**2) / (12 * batch))
  assert abs(shift - d / 2 * np.sum(w)) < 5 * sigma + 1e-5, (shift, d / 2 * np.sum(w), sigma)
  assert abs(d / 2 * np.sum(w)) > 20 * sigma  # the test can tell noise from none
  assert scores[d][1] == scores[0.0][1]


def test_generator_batch_size_sets_the_generator_updates_latents_only():
  config = _small(wgan_gp.get_config("dataset=8gaussians"), n_critic=2, batch=8)
  results = {}
  for generator_batch in (0, 24):
    config.train.generator_batch_size = generator_batch
    spec, state, real = _setup(config)
    new, metrics = jax.jit(functools.partial(train_lib.train_step, spec=spec))(state, real)
    results[generator_batch] = new, float(metrics["generator/loss"])
  # The critic updates come first and use train.batch_size whatever the generator's.
  _assert_trees_close(results[0][0].critic_params, results[24][0].critic_params,
                      rtol=0, atol=0)
  # generator/loss = -mean D(G(z)) over the first N latents of the step's generator
  # key (one per example index), with the critic after this step's updates.
  keys = rng_lib.step_keys(state.key, state.step, ("critic", "generator"))
  critic = results[0][0].critic_params
  for generator_batch, n in ((0, 8), (24, 24)):
    z = rng_lib.normal(rng_lib.example_keys(keys["generator"], 0, n), (spec.z_dim,))
    fake = spec.generator.apply({"params": state.generator_params}, z)
    expected = -float(jnp.mean(spec.critic.apply({"params": critic}, fake)))
    np.testing.assert_allclose(results[generator_batch][1], expected, rtol=1e-5, atol=1e-7)
  assert results[0][1] != results[24][1]
  moved = jax.tree.map(lambda a, c: float(jnp.max(jnp.abs(a - c))),
                       results[0][0].generator_params, results[24][0].generator_params)
  assert max(jax.tree.leaves(moved)) > 0


# --- Fidelity to the originals: spectral-norm calls, pixel scaling ---------------------


@pytest.mark.parametrize("iteration", train_lib.SPECTRAL_NORM_ITERATIONS)
def test_which_u_scores_the_reals_the_fakes_and_the_penalty_points(iteration):
  config = _small(sngan.get_config("dataset=digits"), n_critic=1, batch=4)
  config.model.width = 4
  config.model.spectral_norm_iteration = iteration
  spec, state, real = _setup(config)
  fake = jnp.tanh(jax.random.normal(jax.random.PRNGKey(7), real.shape[1:]))

  @jax.jit
  def calls(params, u0, real, fake):
    (d_real, _), (d_fake, _), critic_at, new = train_lib._critic_calls(
        spec, params, u0, real, fake, None, None)
    scores = functools.partial(train_lib.critic_scores, spec, params)
    want_real, u1 = scores(u0, real, update=True)
    # per_call (the SNGAN authors' updater): the fakes' call starts from the u the
    # reals' call wrote and writes its own; per_update: both from the incoming u.
    fakes_from = u1 if iteration == "per_call" else u0
    want_fake, u2 = scores(fakes_from, fake, update=True)
    other_fake = scores(u1 if iteration == "per_update" else u0, fake)[0]
    return (d_real, d_fake, critic_at(None)(fake), new, want_real, want_fake,
            u2 if iteration == "per_call" else u1, other_fake)

  (d_real, d_fake, penalty_scores, new, want_real, want_fake, want_new,
   other_fake) = calls(state.critic_params, state.critic_spectral, real[0], fake)
  np.testing.assert_array_equal(d_real, want_real)
  np.testing.assert_array_equal(d_fake, want_fake)
  # The penalty's closure is the critic that scored the fakes, and writes nothing.
  np.testing.assert_array_equal(penalty_scores, want_fake)
  _assert_trees_close(new, want_new, rtol=0, atol=0)
  assert not np.allclose(d_fake, other_fake)


def test_the_authors_pixel_scaling_keeps_dequantised_reals_below_one():
  # gan_cifar_resnet.py: 2*((v/256.)-.5) + U[0, 1/128) lies in [-1, 1); the closed
  # convention v/127.5 - 1 plus the same noise passes 1 at v = 255.
  config = wgan_gp.get_config("dataset=cifar10,arch=resnet")
  assert (config.dataset.pixel_scaling, config.train.dequantization) == ("half_open", 1 / 128)
  spec = factory.make_step_spec(config, (32, 32, 3))
  levels = np.arange(256, dtype=np.float32)
  v = np.tile(levels, 64 * 32 * 32 * 3 // 256).reshape(64, 32, 32, 3)
  data = jnp.asarray(v / 127.5 - 1.0)  # what the data pipeline delivers
  reals = np.asarray(train_lib._training_reals(spec, jax.random.PRNGKey(0), data))
  assert reals.min() >= -1.0 and reals.max() < 1.0
  noise = reals - (v / 128.0 - 1.0)
  assert noise.min() >= -1e-6 and noise.max() < 1 / 128 + 1e-6 and noise.max() > 0.99 / 128
  closed = dataclasses.replace(spec, pixel_scaling="closed")
  assert float(train_lib._training_reals(closed, jax.random.PRNGKey(0), data).max()) > 1.0
  # Samples are mapped back to the data's convention: the exact inverse.
  np.testing.assert_allclose(
      train_lib.from_training_pixels(train_lib.to_training_pixels(data, "half_open"),
                                     "half_open"), data, atol=1e-6)
