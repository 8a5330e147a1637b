"""Class-conditional GANs: conditional BatchNorm and the critic heads against their
formulas, the AC-GAN loss terms and their gradient against closed forms, the labels
through the step (each real example's own label, the penalty points' labels, the
fakes' and the generator's labels), the penalty on a conditional critic against
finite differences, validation, the requested-class and intra-FD metrics, the
per-class sample grid and classes.json."""

import dataclasses
import functools
import json
import os

import flax.linen as nn
import jax
from jax.flatten_util import ravel_pytree
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from configs import dragan, sngan, wgan_gp
from jaxgan import errors
from jaxgan import factory
from jaxgan.eval import metrics as metrics_lib
from jaxgan import penalties
from jaxgan import rng as rng_lib
from jaxgan import runs
from jaxgan import sample as sample_lib
from jaxgan import train as train_lib
from jaxgan import validation
from jaxgan import workdir as workdir_lib
from jaxgan.models import conditional
from jaxgan.models import mlp

K = 10  # digits' classes


def _spec(recipe=wgan_gp, variant="conditional=acgan", *, n_critic=2, batch=8, **model):
  """A small conditional StepSpec of `recipe` (10 classes, as digits), and its config."""
  config = recipe.get_config(variant)
  config.train.n_critic = n_critic
  config.train.batch_size = batch
  config.model.hidden = (16, 16)
  config.model.width = 8
  for key, value in model.items():
    config.model[key] = value
  shape = validation.validate(config)
  return factory.make_step_spec(config, shape, K), config, shape


def _batch(shape, n_critic=2, batch=8, seed=0):
  rng = np.random.default_rng(seed)
  real = np.tanh(rng.normal(size=(n_critic, batch) + tuple(shape))).astype(np.float32)
  return real, rng.integers(0, K, (n_critic, batch)).astype(np.int32)


def _with_critic(spec, critic):
  return dataclasses.replace(spec, critic=critic)


def _randomised(params, key, scale=1.0):
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))
  return jax.tree.unflatten(tree, [scale * jax.random.normal(k, p.shape, p.dtype)
                                   for k, p in zip(keys, leaves)])


def _cross_entropy(logits, labels):
  logits = np.asarray(logits, np.float64)
  shifted = logits - logits.max(axis=1, keepdims=True)
  log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
  return -log_probs[np.arange(len(labels)), labels].mean()


@pytest.fixture
def float64():
  with jax.enable_x64(True):
    yield


# --- Models ----------------------------------------------------------------------------


def test_conditional_batch_norm_is_batch_norm_with_each_examples_class_scale_and_offset(
    float64):
  x = jax.random.normal(jax.random.key(0), (6, 3, 3, 4), jnp.float64) * 2.0 + 0.5
  labels = jnp.array([0, 2, 1, 2, 0, 1])
  train_bn = conditional.ConditionalBatchNorm(3, use_running_average=False, momentum=0.9,
                                              epsilon=1e-5)
  variables = train_bn.init(jax.random.key(1), x, labels)
  # The references' initialisation: scale 1, offset 0 for every class.
  np.testing.assert_array_equal(variables["params"]["scale"], np.ones((3, 4)))
  np.testing.assert_array_equal(variables["params"]["offset"], np.zeros((3, 4)))
  params = _randomised(variables["params"], jax.random.key(2))
  out, updates = train_bn.apply({"params": params, "batch_stats": variables["batch_stats"]},
                                x, labels, mutable=["batch_stats"])
  xn, scale, offset = np.asarray(x), np.asarray(params["scale"]), np.asarray(params["offset"])
  mean, var = xn.mean(axis=(0, 1, 2)), xn.var(axis=(0, 1, 2))
  per_example = lambda table: table[np.asarray(labels)][:, None, None, :]  # noqa: E731
  expected = (xn - mean) / np.sqrt(var + 1e-5) * per_example(scale) + per_example(offset)
  np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
  # Running averages (momentum 0.9 from mean 0, var 1; kept float32), the variance's
  # of the unbiased estimate, m/(m-1) x var with m = 6 x 3 x 3 (layers.BatchNorm).
  stats = updates["batch_stats"]["norm"]
  np.testing.assert_allclose(stats["mean"], 0.1 * mean, rtol=1e-6)
  np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * var * 54 / 53, rtol=1e-6)
  # Evaluation: the running averages, so each example alone gives the same output.
  eval_bn = train_bn.clone(use_running_average=True)
  ev = eval_bn.apply({"params": params, "batch_stats": updates["batch_stats"]}, x, labels)
  expected = ((xn - stats["mean"]) / np.sqrt(stats["var"] + 1e-5) * per_example(scale)
              + per_example(offset))
  np.testing.assert_allclose(ev, expected, rtol=1e-10, atol=1e-12)


def test_projection_critic_adds_the_inner_product_of_the_class_embedding_and_its_features(
    float64):
  critic = mlp.MLPCritic(hidden=(5,), conditional="projection", num_classes=3)
  x = jax.random.normal(jax.random.key(0), (4, 6), jnp.float64)
  labels = jnp.array([2, 0, 1, 2])
  params = _randomised(critic.init(jax.random.key(1), x, labels)["params"], jax.random.key(2))
  assert params["projection"]["embedding"].shape == (3, 5)
  h = np.maximum(0, x @ params["Dense_0"]["kernel"] + params["Dense_0"]["bias"])
  psi = h @ params["Dense_1"]["kernel"][:, 0] + params["Dense_1"]["bias"][0]
  embed = np.asarray(params["projection"]["embedding"])[np.asarray(labels)]
  np.testing.assert_allclose(critic.apply({"params": params}, x, labels),
                             psi + np.sum(embed * h, axis=1), rtol=1e-12)
  # And the label matters: another class gives another score.
  other = critic.apply({"params": params}, x, (labels + 1) % 3)
  assert np.max(np.abs(other - psi - np.sum(embed * h, axis=1))) > 1e-3


class _ProjectionHead(nn.Module):
  """The projection term alone on given features (spectral norm as in SNGAN)."""

  @nn.compact
  def __call__(self, features, labels, update_stats=False):
    return conditional.projection(features, labels, 3, spectral_norm=True,
                                  update_stats=update_stats)


def test_spectrally_normalised_projection_divides_the_embedding_by_its_power_iteration_sigma(
    float64):
  head = _ProjectionHead()
  features = jax.random.normal(jax.random.key(0), (5, 4), jnp.float64)
  labels = jnp.array([0, 1, 2, 1, 0])
  variables = head.init(jax.random.key(1), features, labels)
  variables = {"params": _randomised(variables["params"], jax.random.key(2), scale=2.0),
               "spectral": variables["spectral"]}
  embedding = np.asarray(variables["params"]["projection"]["embedding"], np.float64)
  u = np.asarray(variables["spectral"]["projection_sn"]["projection/embedding/u"], np.float64)
  # One power iteration from the stored u (flax.linen.SpectralNorm, Miyato et al. Alg. 1).
  v = u @ embedding.T
  v /= np.linalg.norm(v)
  u_new = v @ embedding
  u_new /= np.linalg.norm(u_new)
  sigma = (v @ embedding @ u_new.T).item()
  assert abs(sigma - 1) > 0.5  # normalising shows
  expected = np.sum(embedding[np.asarray(labels)] / sigma * np.asarray(features), axis=1)
  # rtol: u is stored in float32.
  np.testing.assert_allclose(head.apply(variables, features, labels), expected, rtol=1e-6)
  # Iterated, sigma converges to the embedding's largest singular value.
  spectral = variables["spectral"]
  for _ in range(50):
    _, new = head.apply({"params": variables["params"], "spectral": spectral}, features,
                        labels, update_stats=True, mutable=["spectral"])
    spectral = new["spectral"]
  np.testing.assert_allclose(spectral["projection_sn"]["projection/embedding/sigma"],
                             np.linalg.svd(embedding, compute_uv=False)[0], rtol=1e-6)


def test_acgan_critic_returns_its_score_and_k_logits_of_the_same_features_without_labels():
  critic = mlp.MLPCritic(hidden=(5,), conditional="acgan", num_classes=K)
  x = jax.random.normal(jax.random.key(0), (3, 6))
  params = critic.init(jax.random.key(1), x)["params"]
  score, logits = critic.apply({"params": params}, x)
  h = jax.nn.relu(x @ params["Dense_0"]["kernel"] + params["Dense_0"]["bias"])
  np.testing.assert_allclose(logits, h @ params["acgan"]["kernel"] + params["acgan"]["bias"],
                             rtol=1e-5, atol=1e-6)
  unconditional = mlp.MLPCritic(hidden=(5,))
  np.testing.assert_allclose(score, unconditional.apply(
      {"params": {k: v for k, v in params.items() if k != "acgan"}}, x), rtol=1e-6)


@pytest.mark.parametrize("variant,arch", [("conditional=acgan", "mlp"),
                                          ("conditional=projection", "dcgan")])
def test_unconditional_models_keep_their_parameter_trees_and_conditional_ones_add_to_them(
    variant, arch):
  spec, _, shape = _spec(variant=variant, arch=arch)
  config = wgan_gp.get_config(f"dataset=digits,arch={arch}")
  config.model.hidden, config.model.width = (16, 16), 8
  plain = factory.make_step_spec(config, validation.validate(config), K)  # K ignored
  assert plain.num_classes == 0 and plain.conditional == "none"

  def paths(tree):
    return {jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]}

  state = jax.eval_shape(lambda: train_lib.init_state(plain, jax.random.key(0), shape))
  cond = jax.eval_shape(lambda: train_lib.init_state(spec, jax.random.key(0), shape))
  # The unconditional trees are those of models built before conditioning existed:
  # nothing named for it, every layer where it was.
  assert not any("acgan" in p or "projection" in p or "label" in p
                 for p in paths(state.critic_params) | paths(state.generator_params))
  extra_critic = paths(cond.critic_params) - paths(state.critic_params)
  assert extra_critic == ({"['acgan']['bias']", "['acgan']['kernel']"}
                          if variant.endswith("acgan") else {"['projection']['embedding']"})


def test_a_conditional_generator_draws_what_its_labels_ask_and_needs_them():
  spec, _, shape = _spec()
  state = train_lib.init_state(spec, jax.random.key(0), shape)
  z = jnp.ones((2, spec.z_dim))
  a, _ = train_lib.generate(spec, state.generator_params, {}, z, train=False,
                            labels=jnp.array([0, 0]))
  b, _ = train_lib.generate(spec, state.generator_params, {}, z, train=False,
                            labels=jnp.array([0, 7]))
  np.testing.assert_array_equal(a[0], b[0])
  assert float(jnp.max(jnp.abs(a[1] - b[1]))) > 1e-4
  with pytest.raises(ValueError, match="needs labels"):
    train_lib.generate(spec, state.generator_params, {}, z, train=False)


# --- AC-GAN terms -----------------------------------------------------------------------


def _linear_acgan(scale=1.0, scale_g=0.1):
  """A conditional digits spec whose critic is linear: D(x) = w.x + b, logits = x Wa + ba."""
  spec, _, shape = _spec()
  spec = _with_critic(spec, mlp.MLPCritic(hidden=(), conditional="acgan", num_classes=K))
  spec = dataclasses.replace(spec, hparams=spec.hparams.replace(
      acgan_scale=scale, acgan_scale_g=scale_g))
  return spec, train_lib.init_state(spec, jax.random.key(0), shape), shape


def test_acgan_critic_term_and_its_gradient_match_the_closed_form_cross_entropy():
  spec, state, shape = _linear_acgan(scale=0.7)
  params = _randomised(state.critic_params, jax.random.key(3), scale=0.3)
  real, labels = _batch(shape)
  fake = np.tanh(np.random.default_rng(5).normal(size=real[0].shape)).astype(np.float32)
  fake_labels = (labels[0] + 3) % K
  loss_fn = functools.partial(train_lib.critic_loss_fn, spec)
  (total, (metrics, _)), grads = jax.jit(jax.value_and_grad(loss_fn, argnums=0, has_aux=True))(
      params, {}, real[0], fake, jax.random.key(4), spec.hparams, True, labels[0], fake_labels)

  x = real[0].reshape(8, -1).astype(np.float64)
  wa, ba = (np.asarray(params["acgan"][k], np.float64) for k in ("kernel", "bias"))
  logits = x @ wa + ba
  ce = _cross_entropy(logits, labels[0])
  np.testing.assert_allclose(metrics["critic/acgan_loss"], ce, rtol=1e-5)
  np.testing.assert_allclose(metrics["critic/acgan_accuracy_real"],
                             np.mean(logits.argmax(1) == labels[0]), rtol=0)
  fake_logits = fake.reshape(8, -1) @ wa + ba
  np.testing.assert_allclose(metrics["critic/acgan_accuracy_fake"],
                             np.mean(fake_logits.argmax(1) == fake_labels), rtol=0)
  # critic/loss = Wasserstein loss + lambda * penalty + ACGAN_SCALE * CE(real).
  np.testing.assert_allclose(
      total, metrics["critic/loss_unregularised"] + 10.0 * metrics["critic/penalty"]
      + 0.7 * ce, rtol=1e-5)
  np.testing.assert_allclose(metrics["critic/loss"], total, rtol=0)
  # Only the AC-GAN term touches the head: d/dWa = scale * x^T (softmax - onehot) / B.
  probs = np.exp(logits - logits.max(1, keepdims=True))
  probs /= probs.sum(1, keepdims=True)
  residual = probs - np.eye(K)[labels[0]]
  np.testing.assert_allclose(grads["acgan"]["kernel"], 0.7 * x.T @ residual / 8,
                             rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(grads["acgan"]["bias"], 0.7 * residual.mean(0), rtol=1e-4,
                             atol=1e-7)


def test_generator_loss_adds_acgan_scale_g_times_the_cross_entropy_on_its_uniform_labels():
  spec, state, shape = _linear_acgan(scale_g=0.25)
  state = state.replace(critic_params=_randomised(state.critic_params, jax.random.key(3), 0.3))
  batch, key = 2000, jax.random.key(9)
  new_state, metrics = jax.jit(functools.partial(train_lib.generator_update, spec),
                               static_argnums=1)(state, batch, key)
  # The documented draws: latents by example index of the key, labels by example index
  # of fold_in(key, _LABEL_STREAM), uniform over the classes.
  z = rng_lib.normal(rng_lib.example_keys(key, 0, batch), (spec.z_dim,))
  labels = np.asarray(rng_lib.randint(
      rng_lib.example_keys(jax.random.fold_in(key, train_lib._LABEL_STREAM), 0, batch), K))
  counts = np.bincount(labels, minlength=K)
  assert counts.min() > 140 and counts.max() < 260, counts  # 200 +- 4.5 sd
  fake, _ = train_lib.generate(spec, state.generator_params, state.generator_batch_stats,
                               z, train=True, labels=jnp.asarray(labels))
  score, logits = spec.critic.apply({"params": state.critic_params}, fake)
  ce = _cross_entropy(logits, labels)
  np.testing.assert_allclose(metrics["generator/acgan_loss"], ce, rtol=1e-5)
  np.testing.assert_allclose(metrics["generator/loss_adversarial"], -np.mean(score), rtol=1e-5)
  np.testing.assert_allclose(metrics["generator/loss"], -np.mean(score) + 0.25 * ce, rtol=1e-5)
  assert int(new_state.step) == int(state.step)  # train_step counts the step


# --- Labels through the step -----------------------------------------------------------


def _projection_spec(penalty="wgan_gp"):
  """A conditional spec with a projection MLP critic whose class embedding is large, so
  every score depends on the label it is given."""
  recipe = dragan if penalty == "dragan" else wgan_gp
  spec, _, shape = _spec(recipe, "dataset=digits", conditional="projection")
  if penalty in ("r1", "r2"):
    spec = dataclasses.replace(spec, penalty=dataclasses.replace(spec.penalty, name=penalty))
  state = train_lib.init_state(spec, jax.random.key(0), shape)
  params = dict(state.critic_params)
  params["projection"] = {"embedding": 3.0 * jax.random.normal(
      jax.random.key(7), params["projection"]["embedding"].shape)}
  return spec, state.replace(critic_params=params), shape


def test_the_critic_scores_each_real_example_under_its_own_label():
  spec, state, shape = _projection_spec()
  real, labels = _batch(shape)
  fake = real[1]
  one_by_one = [float(spec.critic.apply({"params": state.critic_params}, real[0][i:i + 1],
                                        labels=labels[0][i:i + 1])[0]) for i in range(8)]
  _, (metrics, _) = train_lib.critic_loss_fn(spec, state.critic_params, {}, real[0], fake,
                                             jax.random.key(1), spec.hparams, True,
                                             labels[0], labels[1])
  np.testing.assert_allclose(metrics["critic/score_real"], np.mean(one_by_one), rtol=1e-5)
  _, (shuffled, _) = train_lib.critic_loss_fn(spec, state.critic_params, {}, real[0], fake,
                                              jax.random.key(1), spec.hparams, True,
                                              labels[0][::-1], labels[1])
  assert abs(float(shuffled["critic/score_real"]) - np.mean(one_by_one)) > 1e-3


@pytest.mark.parametrize("penalty", ["wgan_gp", "dragan", "r1", "r2"])
def test_penalty_points_are_scored_under_the_label_of_the_example_they_came_from(penalty):
  spec, state, shape = _projection_spec(penalty)
  assert spec.penalty.name == penalty
  real, labels = _batch(shape)
  real_labels, fake_labels = labels[0], (labels[0] + 1 + labels[1] % (K - 1)) % K
  assert np.all(real_labels != fake_labels)
  fake, key = real[1], jax.random.key(1)
  _, (metrics, _) = train_lib.critic_loss_fn(spec, state.critic_params, {}, real[0], fake,
                                             key, spec.hparams, True, real_labels, fake_labels)
  keys = rng_lib.example_keys(key, 0, 8)
  if penalty == "wgan_gp":
    points, own = penalties.interpolates(keys, real[0], fake), real_labels  # real's label
  elif penalty == "dragan":
    points = penalties.dragan_points(keys, real[0], perturbation=spec.penalty.perturbation,
                                     noise_variance=10.0, noise_scale=0.5)
    own = real_labels
  else:
    points, own = (real[0], real_labels) if penalty == "r1" else (fake, fake_labels)
  method = (penalties.gradient_penalty if penalty in ("wgan_gp", "dragan")
            else penalties.squared_gradient_penalty)

  def expected(point_labels):
    return float(method(lambda x: spec.critic.apply({"params": state.critic_params}, x,
                                                    labels=point_labels), points)[0])

  other = fake_labels if own is real_labels else real_labels
  np.testing.assert_allclose(metrics["critic/penalty"], expected(own), rtol=1e-5)
  assert abs(expected(other) - expected(own)) > 1e-3 * abs(expected(own))


def _python_loop_step(spec, state, real, labels):
  keys = rng_lib.step_keys(state.key, state.step, ("critic", "generator"))
  for i in range(spec.n_critic):
    state, _ = train_lib.critic_update(spec, state, real[i],
                                       jax.random.fold_in(keys["critic"], i), index=i,
                                       labels=labels[i])
  batch = spec.generator_batch_size or real.shape[1]
  state, _ = train_lib.generator_update(spec, state, batch, keys["generator"])
  return state.replace(step=state.step + 1)


@pytest.mark.parametrize("variant", ["conditional=acgan", "conditional=projection"])
def test_each_critic_update_of_the_step_gets_the_labels_of_its_own_batch(variant):
  spec, _, shape = _spec(variant=variant, n_critic=3)
  state = train_lib.init_state(spec, rng_lib.run_key(0), shape)
  real, labels = _batch(shape, n_critic=3)
  step = jax.jit(functools.partial(train_lib.train_step, spec=spec))
  got, metrics = step(state, real, labels)
  reference = jax.jit(functools.partial(_python_loop_step, spec))(state, real, labels)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(reference)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
  # Labels rotated between the updates give another step: the order is what is checked.
  rotated, _ = step(state, real, labels[[1, 2, 0]])
  moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), got.critic_params,
                       rotated.critic_params)
  assert max(jax.tree.leaves(moved)) > 1e-6
  assert all(np.isfinite(float(v)) for v in metrics.values())
  if variant.endswith("acgan"):
    assert {"critic/acgan_accuracy_real", "critic/acgan_accuracy_fake", "critic/acgan_loss",
            "generator/acgan_loss"} <= set(metrics)


def test_the_critics_fakes_take_the_real_labels_or_uniform_ones_as_configured():
  spec, _, _ = _spec()
  assert spec.critic_fake_labels == "real"  # gan_cifar_resnet.py
  real_labels = jnp.asarray(np.arange(64) % 3, jnp.int32)
  key = jax.random.key(2)
  np.testing.assert_array_equal(train_lib._fake_labels(spec, key, real_labels), real_labels)
  uniform = dataclasses.replace(spec, critic_fake_labels="uniform")
  assert sngan.get_config("conditional=projection").train.critic_fake_labels == "uniform"
  drawn = np.asarray(train_lib._fake_labels(uniform, key, real_labels))
  assert drawn.min() >= 0 and drawn.max() < K and len(set(drawn.tolist())) > 5
  # Drawn per example index: the first half of the batch draws the same on its own.
  np.testing.assert_array_equal(train_lib._fake_labels(uniform, key, real_labels[:32]),
                                drawn[:32])


def test_the_step_refuses_missing_or_unexpected_labels():
  spec, _, shape = _spec()
  state = train_lib.init_state(spec, jax.random.key(0), shape)
  real, labels = _batch(shape)
  with pytest.raises(ValueError, match="labels"):
    train_lib.train_step(state, real, spec=spec)
  with pytest.raises(ValueError, match=r"labels have shape \(2, 4\)"):
    train_lib.train_step(state, real, labels[:, :4], spec=spec)
  plain, _, _ = _spec(variant="dataset=digits")
  with pytest.raises(ValueError, match="num_classes=0"):
    train_lib.train_step(train_lib.init_state(plain, jax.random.key(0), shape), real, labels,
                         spec=plain)


# --- The penalty on conditional critics: finite differences -----------------------------


class _SmoothConditionalCritic(nn.Module):
  """tanh features and a conditional head, so finite differences are accurate."""

  conditional: str

  @nn.compact
  def __call__(self, x, labels=None):
    h = jnp.tanh(nn.Dense(12)(x.reshape(x.shape[0], -1)))
    score = nn.Dense(1)(h)[:, 0]
    out = conditional.critic_output(score, h, labels, conditional=self.conditional,
                                    num_classes=4, spectral_norm=False, update_stats=False)
    return out[0] if self.conditional == "acgan" else out


@pytest.mark.parametrize("method", penalties.PENALTY_METHODS)
@pytest.mark.parametrize("head", ["projection", "acgan"])
def test_the_penalty_gradient_on_a_conditional_critic_matches_finite_differences(
    head, method, float64):
  critic = _SmoothConditionalCritic(head)
  x = jax.random.normal(jax.random.key(0), (5, 3), jnp.float64)
  labels = jnp.array([0, 3, 1, 1, 2])
  params = critic.init(jax.random.key(1), x, labels if head == "projection" else None)
  params = _randomised(params["params"], jax.random.key(2), scale=0.7)
  kw = (lambda: {"labels": labels}) if head == "projection" else dict

  @jax.jit
  def loss(p):
    return penalties.gradient_penalty(lambda y: critic.apply({"params": p}, y, **kw()), x,
                                      target=1.0, method=method)[0]

  grads = jax.grad(loss)(params)
  if head == "projection":
    assert float(jnp.linalg.norm(grads["projection"]["embedding"])) > 0
  flat_g, unravel = ravel_pytree(grads)
  flat_p, _ = ravel_pytree(params)
  rng = np.random.default_rng(0)
  for _ in range(4):
    v = rng.normal(size=flat_p.shape)
    v /= np.linalg.norm(v)
    h = 1e-5
    fd = (loss(unravel(flat_p + h * v)) - loss(unravel(flat_p - h * v))) / (2 * h)
    np.testing.assert_allclose(np.dot(flat_g, v), fd, rtol=1e-6, atol=1e-10)


# --- Validation -------------------------------------------------------------------------


@pytest.mark.parametrize("variant,message", [
    ("dataset=8gaussians,conditional=acgan",
     r"model.conditional='acgan' needs class labels: dataset '8gaussians' has no class labels"),
    ("dataset=celeb_a,conditional=projection",
     r"model.conditional='projection' needs class labels: dataset 'celeb_a' has no class"),
])
def test_conditional_on_unlabelled_data_is_one_config_error_naming_the_dataset(
    variant, message):
  with pytest.raises(errors.ConfigError, match=message):
    validation.validate(wgan_gp.get_config(variant))


def test_bad_conditional_settings_are_config_errors_naming_the_key():
  config = wgan_gp.get_config("dataset=digits,arch=dcgan,conditional=acgan")
  config.model.generator_batch_norm = False
  with pytest.raises(errors.ConfigError, match="model.generator_batch_norm must be True for "
                                               "a conditional DCGAN"):
    validation.validate(config)
  config = wgan_gp.get_config()
  config.model.conditional = "cgan"
  with pytest.raises(errors.ConfigError, match="unknown model.conditional 'cgan'; allowed: "
                                               "none, acgan, projection"):
    validation.validate(config)
  with pytest.raises(ValueError, match="unknown conditional 'cgan'"):
    wgan_gp.get_config("conditional=cgan")


@pytest.mark.parametrize("recipe,variant,arch", [
    (wgan_gp, "conditional=acgan", "mlp"),
    (wgan_gp, "dataset=mnist,conditional=acgan", "dcgan"),
    (wgan_gp, "dataset=fashion_mnist,conditional=projection", "dcgan"),
    (wgan_gp, "dataset=cifar10,arch=resnet,conditional=acgan", "resnet"),
    (sngan, "dataset=cifar10,conditional=projection", "sngan"),
    (sngan, "dataset=mnist,conditional=projection", "dcgan"),
])
def test_every_conditional_recipe_builds_a_conditional_generator_and_critic(
    recipe, variant, arch):
  config = recipe.get_config(variant)
  shape = validation.validate(config)
  spec = factory.make_step_spec(config, shape, K)
  assert config.model.arch == arch and spec.num_classes == K
  assert spec.generator.num_classes == K and spec.critic.num_classes == K
  assert spec.critic.conditional == config.model.conditional
  state = jax.eval_shape(lambda: train_lib.init_state(spec, jax.random.key(0), shape))
  scale_shapes = [leaf.shape for path, leaf in jax.tree_util.tree_flatten_with_path(
      state.generator_params)[0] if jax.tree_util.keystr(path).endswith("['scale']")]
  # Per-class BatchNorm scales [K, C] (the MLP's label embedding [K, K] instead).
  if arch == "mlp":
    assert state.generator_params["label_embedding"]["embed"]["embedding"].shape == (K, K)
  else:
    assert any(s[0] == K for s in scale_shapes)


def test_recipes_carry_the_authors_conditional_settings():
  acgan = wgan_gp.get_config("dataset=cifar10,arch=resnet,conditional=acgan")
  assert (acgan.model.conditional, acgan.loss.acgan_scale, acgan.loss.acgan_scale_g,
          acgan.train.critic_fake_labels) == ("acgan", 1.0, 0.1, "real")
  # The AC-WGAN-GP keeps the unconditional script's hyperparameters (the same script).
  plain = wgan_gp.get_config("dataset=cifar10,arch=resnet")
  for key in ("optimizer", "train.batch_size", "train.generator_batch_size",
              "train.n_critic", "train.dequantization", "penalty.weight"):
    section, _, leaf = key.partition(".")
    a, b = (acgan[section], plain[section]) if not leaf else (
        acgan[section][leaf], plain[section][leaf])
    assert (a.to_dict() if hasattr(a, "to_dict") else a) == (
        b.to_dict() if hasattr(b, "to_dict") else b), key
  projection = sngan.get_config("dataset=cifar10,conditional=projection")
  assert (projection.model.arch, projection.model.conditional, projection.loss.name,
          projection.train.critic_fake_labels) == ("sngan", "projection", "hinge", "uniform")
  assert wgan_gp.get_config().model.conditional == "none"


# --- Metrics ---------------------------------------------------------------------------


def test_requested_class_accuracy_counts_argmax_hits_per_class_and_overall():
  requested = np.array([0, 0, 0, 0, 1, 1, 2, 2])
  predicted = np.array([0, 0, 0, 1, 1, 0, 0, 1])  # class 0: 3/4, class 1: 1/2, class 2: 0
  probs = np.full((8, 4), 0.1)
  probs[np.arange(8), predicted] = 0.7
  out = metrics_lib.requested_class_metrics(probs, requested)
  assert out["requested_class_accuracy"] == pytest.approx(4 / 8)
  assert [out[f"requested_class_accuracy_class{k}"] for k in range(3)] == [0.75, 0.5, 0.0]
  assert np.isnan(out["requested_class_accuracy_class3"])  # never asked for
  assert out["requested_class_accuracy_min"] == 0.0


def test_intra_frechet_distances_compare_each_class_with_its_own_real_images():
  rng = np.random.default_rng(0)
  fake = rng.normal(size=(60, 3))
  requested = np.arange(60) % 3
  real = rng.normal(size=(45, 3)) + 2.0
  real_labels = np.arange(45) % 3
  got = metrics_lib.intra_frechet_distances(fake, requested, real, real_labels, 4)
  for k in range(3):
    assert got[k] == pytest.approx(metrics_lib.frechet_distance(
        fake[requested == k], real[real_labels == k]), rel=1e-12)
  assert np.isnan(got[3])
  # A class's distance sees only that class: moving class 1's samples moves its distance.
  moved = fake.copy()
  moved[requested == 1] += 5.0
  again = metrics_lib.intra_frechet_distances(moved, requested, real, real_labels, 4)
  assert again[0] == pytest.approx(got[0]) and again[1] > got[1] + 10


# --- Sample grids and classes.json ------------------------------------------------------


def test_a_conditional_grid_has_one_row_per_class_and_one_latent_per_column(tmp_path):
  spec, config, shape = _spec()
  state = jax.device_get(train_lib.init_state(spec, jax.random.key(0), shape))
  names = tuple(f"class {k}" for k in range(K))
  out = sample_lib.write_grids(spec, state, config, str(tmp_path), 7, num=30,
                                    class_names=names)["raw"]
  samples, labels = np.load(out["npy"]), np.load(out["labels"])
  assert samples.shape == (30, 8, 8, 1)
  np.testing.assert_array_equal(labels, np.repeat(np.arange(K), 3))
  z = sample_lib.fixed_latents(config.seed, 3, config.model.z_dim)
  for k in (0, 4, 9):
    expected = sample_lib.generator_output(spec, state, z, labels=jnp.full((3,), k))
    np.testing.assert_allclose(samples[3 * k:3 * k + 3], expected, rtol=1e-6, atol=1e-6)
  # PNG: K rows of 32-pixel cells (8x8 enlarged) below the title band, the class names
  # in a band on the left of every row.
  image = np.asarray(Image.open(out["png"]))
  cell = 32 + 1
  assert image.shape[0] == sample_lib._TITLE_HEIGHT + K * cell + 1
  band = image.shape[1] - (3 * cell + 1)
  assert band > 20
  for k in range(K):
    top = sample_lib._TITLE_HEIGHT + k * cell
    assert (image[top:top + cell, :band] < 128).any(), f"no title on row {k}"

  one = sample_lib.write_grids(spec, state, config, str(tmp_path), 7, num=12,
                                    class_names=names, class_id=4)["raw"]
  assert one["png"].endswith("step_000007_class4.png")
  np.testing.assert_array_equal(np.load(one["labels"]), np.full(12, 4))
  np.testing.assert_allclose(np.load(one["npy"]), sample_lib.generator_output(
      spec, state, sample_lib.fixed_latents(config.seed, 12, config.model.z_dim),
      labels=jnp.full((12,), 4)), rtol=1e-6, atol=1e-6)


def test_classes_json_round_trips_and_is_what_sampling_reads(tmp_path, monkeypatch):
  wd = workdir_lib.Workdir(str(tmp_path / "run"))
  assert wd.read_classes() is None
  names = ("zero", "one", "two three")
  wd.write_classes(names)
  assert wd.read_classes() == names
  with open(wd.classes_path) as f:
    assert json.load(f) == {"num_classes": 3, "class_names": list(names)}
  config = wgan_gp.get_config("conditional=acgan")
  # The run's own file wins over the data (which may be gone months later).
  monkeypatch.setattr(runs.data_lib, "class_names", lambda cfg: pytest.fail("data read"))
  assert runs.setup(config, classes=wd.read_classes()).classes == names
  assert runs.setup(wgan_gp.get_config(), classes=wd.read_classes()).classes == ()
  # Training on in a workdir whose run has other classes is refused before any write.
  os.makedirs(os.path.join(wd.checkpoints, "10"))
  with pytest.raises(errors.WorkdirError, match=r"names the run's classes \['zero'"):
    wd.check_classes(("a", "b", "c"))
  with open(wd.classes_path, "w") as f:
    f.write("{not json")
  with pytest.raises(errors.WorkdirError, match="cannot read"):
    wd.read_classes()
