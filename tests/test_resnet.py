"""The CIFAR-10 ResNets: parameter counts (the WGAN-GP authors' own, and SNGAN's
derived from its layer shapes), forward passes against an NCHW re-statement of
the authors' graphs in float64, per-example independence of the critics, the
generator's BatchNorm modes, both gradient-penalty methods on spectrally
normalised critics, bfloat16 compute against float32, and the errors."""

import functools
import math

import jax
from jax.flatten_util import ravel_pytree
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import penalties
from jaxgan.models import layers
from jaxgan.models import resnet

_SNGAN_CRITIC = dict(spectral_norm=True, pooling="sum", output_bias=False)


def _count(tree):
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def _param_shapes(module, *args, **kwargs):
  """Variables' shapes without running anything (jax.eval_shape)."""
  return jax.eval_shape(lambda: module.init(jax.random.key(0), *args, **kwargs))


# --- Parameter counts -------------------------------------------------------------


def _conv(k, c_in, c_out):
  return k * k * c_in * c_out + c_out


def _expected_generator_count(width, z_dim=128, num_classes=0):
  """Dense z -> 4x4xW, 3 up blocks (BN, 3x3, BN, 3x3, 1x1 shortcut), BN, 3x3 -> 3.

  Conditional (num_classes K): the blocks' BNs have a scale and offset per class
  (tflib cond_batchnorm.py: [K, W] each); the output BN stays unconditional.
  """
  bn = 2 * width
  block_bn = 2 * width * (num_classes or 1)
  block = (block_bn + _conv(3, width, width) + block_bn + _conv(3, width, width)
           + _conv(1, width, width))
  return (z_dim * 16 * width + 16 * width) + 3 * block + bn + _conv(3, width, 3)


def _expected_critic_count(width, output_bias=True, layer_norm=False):
  """Optimised block (3x3 3->W, 3x3, 1x1 shortcut 3->W), down block (3x3, 3x3, 1x1),
  2 plain blocks (3x3, 3x3, identity), linear W -> 1; layer norm: 2 per residual block."""
  first = _conv(3, 3, width) + _conv(3, width, width) + _conv(1, 3, width)
  down = 2 * _conv(3, width, width) + _conv(1, width, width)
  plain = 2 * _conv(3, width, width)
  norms = 3 * 2 * (2 * width) if layer_norm else 0
  return first + down + 2 * plain + width + int(output_bias) + norms


def test_wgan_gp_resnet_has_the_authors_parameter_counts():
  # gan_cifar_resnet.py prints these counts (DIM_G = DIM_D = 128, unconditional).
  gen = resnet.ResNetGenerator(width=128, bn_momentum=0.9, bn_epsilon=1e-5)
  critic = resnet.ResNetCritic(width=128)
  g_vars = _param_shapes(gen, jnp.zeros((2, 128)), train=False)
  c_vars = _param_shapes(critic, jnp.zeros((2, 32, 32, 3)))
  assert _count(g_vars["params"]) == _expected_generator_count(128) == 1_204_483
  assert _count(c_vars["params"]) == _expected_critic_count(128) == 1_053_825
  assert set(c_vars) == {"params"}  # no batch statistics, no spectral state
  ln = _param_shapes(resnet.ResNetCritic(width=128, norm="layer"), jnp.zeros((2, 32, 32, 3)))
  assert _count(ln["params"]) == _expected_critic_count(128, layer_norm=True)


def test_conditional_wgan_gp_resnet_has_the_authors_ac_wgan_gp_parameter_counts():
  # gan_cifar_resnet.py as released (CONDITIONAL = ACGAN = True, 10 classes): per-class
  # BatchNorm in the generator's residual blocks; the critic's 10-way "ACGANOutput"
  # linear (128 x 10 + 10) beside its score.
  gen = resnet.ResNetGenerator(width=128, bn_momentum=0.9, bn_epsilon=1e-5, num_classes=10)
  critic = resnet.ResNetCritic(width=128, conditional="acgan", num_classes=10)
  labels = jnp.zeros((2,), jnp.int32)
  g_vars = _param_shapes(gen, jnp.zeros((2, 128)), labels, train=False)
  c_vars = _param_shapes(critic, jnp.zeros((2, 32, 32, 3)))
  assert _count(g_vars["params"]) == _expected_generator_count(128, num_classes=10) == 1_218_307
  assert _count(c_vars["params"]) == _expected_critic_count(128) + 128 * 10 + 10 == 1_055_115
  for block in ("block1", "block2", "block3"):
    for norm in ("norm1", "norm2"):
      shapes = jax.tree.map(lambda x: x.shape, g_vars["params"][block][norm])
      assert shapes == {"scale": (10, 128), "offset": (10, 128)}
  assert set(g_vars["params"]["output_norm"]) == {"scale", "bias"}  # unconditional
  assert jax.tree.map(lambda x: x.shape, c_vars["params"]["acgan"]) == {
      "kernel": (128, 10), "bias": (10,)}


def test_sngan_projection_parameter_counts_add_the_class_embedding_and_per_class_norms():
  # sn_cifar10.yml: ResNetGenerator(ch=256, n_classes=10) with
  # CategoricalConditionalBatchNormalization in its blocks, and the projection critic's
  # SNEmbedID(10, 128) (spectrally normalised: one more u).
  gen = resnet.ResNetGenerator(width=256, bn_momentum=0.9, bn_epsilon=2e-5, num_classes=10)
  critic = resnet.ResNetCritic(width=128, conditional="projection", num_classes=10,
                               **_SNGAN_CRITIC)
  labels = jnp.zeros((2,), jnp.int32)
  g_vars = _param_shapes(gen, jnp.zeros((2, 128)), labels, train=False)
  c_vars = _param_shapes(critic, jnp.zeros((2, 32, 32, 3)), labels)
  assert _count(g_vars["params"]) == _expected_generator_count(256, num_classes=10) == 4_304_387
  assert _count(c_vars["params"]) == (_expected_critic_count(128, output_bias=False)
                                      + 10 * 128) == 1_055_104
  us = [path for path, _ in jax.tree_util.tree_flatten_with_path(c_vars[layers.SPECTRAL])[0]
        if path[-1].key.endswith("/u")]
  assert len(us) == 12


def test_sngan_resnet_parameter_counts_follow_from_its_layer_shapes():
  gen = resnet.ResNetGenerator(width=256, bn_momentum=0.9, bn_epsilon=2e-5)
  critic = resnet.ResNetCritic(width=128, **_SNGAN_CRITIC)
  g_vars = _param_shapes(gen, jnp.zeros((2, 128)), train=False)
  c_vars = _param_shapes(critic, jnp.zeros((2, 32, 32, 3)))
  assert _count(g_vars["params"]) == _expected_generator_count(256) == 4_276_739
  assert _count(c_vars["params"]) == _expected_critic_count(128, output_bias=False) == 1_053_824
  # One u (and sigma) per normalised layer: 3 + 3 + 2 + 2 convs and the linear.
  us = [path for path, _ in jax.tree_util.tree_flatten_with_path(c_vars[layers.SPECTRAL])[0]
        if path[-1].key.endswith("/u")]
  assert len(us) == 11


def test_initialisation_draws_the_authors_uniform_fan_average_variances():
  # tflib: residual 3x3 convs "he_init" Var = 4 / (fan_in + fan_out), shortcuts and
  # linears Glorot Var = 2 / (fan_in + fan_out), uniform; zero biases.
  critic = resnet.ResNetCritic(width=32)
  params = critic.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))["params"]
  cases = [(params["block2"]["conv1"]["kernel"], 4.0 / (9 * 32 + 9 * 32)),
           (params["block2"]["shortcut"]["kernel"], 2.0 / (32 + 32)),
           (params["block1"]["conv1"]["kernel"], 4.0 / (9 * 3 + 9 * 32))]
  for kernel, variance in cases:
    limit = np.sqrt(3 * variance)
    assert 0.95 * limit < float(jnp.abs(kernel).max()) <= limit
    np.testing.assert_allclose(float(jnp.var(kernel)), variance, rtol=0.1)
  assert all(float(jnp.abs(p["bias"]).max()) == 0.0
             for block in ("block1", "block2") for p in params[block].values())


# --- Forward passes against the authors' graphs (NCHW, float64) ----------------------


def _conv_nchw(x, p):
  y = jax.lax.conv_general_dilated(x, p["kernel"], (1, 1), "SAME",
                                   dimension_numbers=("NCHW", "HWIO", "NCHW"))
  return y + p["bias"][None, :, None, None] if "bias" in p else y


def _mean_pool_nchw(x):
  b, c, h, w = x.shape
  return x.reshape(b, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def _upsample_nchw(x):
  return jnp.repeat(jnp.repeat(x, 2, axis=2), 2, axis=3)


def _batch_norm_nchw(x, p, eps):
  mean = x.mean(axis=(0, 2, 3), keepdims=True)
  var = x.var(axis=(0, 2, 3), keepdims=True)
  return (x - mean) / jnp.sqrt(var + eps) * p["scale"][None, :, None, None] + \
      p["bias"][None, :, None, None]


def _layer_norm_nchw(x, p):
  mean = x.mean(axis=(1, 2, 3), keepdims=True)
  var = x.var(axis=(1, 2, 3), keepdims=True)
  return (x - mean) / jnp.sqrt(var + 1e-5) * p["scale"][None, :, None, None] + \
      p["bias"][None, :, None, None]


def _reference_generator(params, z, eps):
  """gan_cifar_resnet.py's Generator (batch statistics, as the authors always use)."""
  relu = jax.nn.relu
  h = z @ params["input"]["kernel"] + params["input"]["bias"]
  width = h.shape[1] // 16
  h = h.reshape(z.shape[0], width, 4, 4)
  for i in (1, 2, 3):
    p = params[f"block{i}"]
    shortcut = _conv_nchw(_upsample_nchw(h), p["shortcut"])
    out = relu(_batch_norm_nchw(h, p["norm1"], eps))
    out = _conv_nchw(_upsample_nchw(out), p["conv1"])
    out = relu(_batch_norm_nchw(out, p["norm2"], eps))
    h = shortcut + _conv_nchw(out, p["conv2"])
  h = relu(_batch_norm_nchw(h, params["output_norm"], eps))
  return jnp.tanh(_conv_nchw(h, params["output"])).transpose(0, 2, 3, 1)


def _reference_critic(params, x, norm, pooling):
  """gan_cifar_resnet.py's Discriminator / snresnet_32.py's (params already normalised)."""
  relu = jax.nn.relu
  normalize = _layer_norm_nchw if norm == "layer" else (lambda h, p: h)
  h = x.transpose(0, 3, 1, 2)
  p = params["block1"]
  shortcut = _conv_nchw(_mean_pool_nchw(h), p["shortcut"])                 # MeanPoolConv
  h = shortcut + _mean_pool_nchw(_conv_nchw(relu(_conv_nchw(h, p["conv1"])), p["conv2"]))
  for i, resample in ((2, "down"), (3, None), (4, None)):
    p = params[f"block{i}"]
    if resample == "down":
      shortcut = _mean_pool_nchw(_conv_nchw(h, p["shortcut"]))              # ConvMeanPool
    else:
      shortcut = h
    out = _conv_nchw(relu(normalize(h, p.get("norm1"))), p["conv1"])
    out = _conv_nchw(relu(normalize(out, p.get("norm2"))), p["conv2"])
    if resample == "down":
      out = _mean_pool_nchw(out)                                            # ConvMeanPool
    h = shortcut + out
  h = relu(h)
  h = h.mean(axis=(2, 3)) if pooling == "mean" else h.sum(axis=(2, 3))
  out = h @ params["output"]["kernel"]
  if "bias" in params["output"]:
    out = out + params["output"]["bias"]
  return out[:, 0]


def _randomised(variables, key):
  """float64 copies with every parameter perturbed (non-zero biases, BN offsets...)."""
  leaves, treedef = jax.tree.flatten(variables)
  keys = jax.random.split(key, len(leaves))
  return jax.tree.unflatten(treedef, [
      jnp.asarray(leaf, jnp.float64) + 0.1 * jax.random.normal(k, leaf.shape, jnp.float64)
      for leaf, k in zip(leaves, keys)])


def _spectrally_normalised(params, spectral):
  """Each kernel divided by one numpy power iteration's sigma from its stored u."""
  params = jax.tree.map(np.array, params)
  for path, u in jax.tree_util.tree_flatten_with_path(spectral)[0]:
    name = path[-1].key  # "<layer>/kernel/u" or ".../sigma"
    if not name.endswith("/u"):
      continue
    layer = _lookup(params, path[:-2])[name.split("/")[0]]
    w = layer["kernel"].reshape(-1, layer["kernel"].shape[-1])
    v = np.asarray(u) @ w.T
    v /= np.linalg.norm(v)
    u1 = v @ w
    u1 /= np.linalg.norm(u1)
    layer["kernel"] = layer["kernel"] / (v @ w @ u1.T).item()
  return params


def _lookup(tree, path):
  for k in path:
    tree = tree[k.key]
  return tree


@pytest.fixture
def _x64():
  with jax.enable_x64(True):
    yield


@pytest.mark.usefixtures("_x64")
def test_generator_matches_the_authors_graph_with_batch_statistics():
  gen = resnet.ResNetGenerator(width=8, bn_momentum=0.9, bn_epsilon=1e-5)
  z = jax.random.normal(jax.random.key(1), (4, 16), jnp.float64)
  variables = gen.init(jax.random.key(0), z, train=False)
  params = _randomised(variables["params"], jax.random.key(2))
  images, _ = jax.jit(functools.partial(gen.apply, train=True, mutable=["batch_stats"]))(
      {"params": params, "batch_stats": variables["batch_stats"]}, z)
  assert images.shape == (4, 32, 32, 3) and images.dtype == jnp.float64
  expected = jax.jit(_reference_generator, static_argnums=2)(params, z, 1e-5)
  np.testing.assert_allclose(images, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.usefixtures("_x64")
@pytest.mark.parametrize("options", [{}, {"norm": "layer"}, _SNGAN_CRITIC],
                         ids=["wgan_gp", "wgan_gp_layernorm", "sngan"])
def test_critic_matches_the_authors_graph(options):
  critic = resnet.ResNetCritic(width=8, **options)
  x = jax.random.normal(jax.random.key(1), (3, 16, 16, 3), jnp.float64)
  variables = critic.init(jax.random.key(0), x)
  params = _randomised(variables["params"], jax.random.key(2))
  spectral = variables.get(layers.SPECTRAL)
  ref_params = params
  variables = {"params": params}
  if spectral is not None:
    spectral = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), spectral)
    ref_params = _spectrally_normalised(params, spectral)
    variables[layers.SPECTRAL] = spectral
  scores = jax.jit(critic.apply)(variables, x)
  assert scores.shape == (3,) and scores.dtype == jnp.float64
  expected = jax.jit(_reference_critic, static_argnums=(2, 3))(
      ref_params, x, options.get("norm", "none"), options.get("pooling", "mean"))
  np.testing.assert_allclose(scores, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("options", [{}, {"norm": "layer"}, _SNGAN_CRITIC],
                         ids=["wgan_gp", "wgan_gp_layernorm", "sngan"])
def test_critic_scores_do_not_depend_on_batch_mates(options):
  critic = resnet.ResNetCritic(width=8, **options)
  x = jax.random.normal(jax.random.key(0), (4, 8, 8, 3))
  variables = critic.init(jax.random.key(1), x)
  apply = jax.jit(critic.apply)
  full = apply(variables, x)
  alone = jnp.concatenate([apply(variables, x[i:i + 1]) for i in range(4)])
  np.testing.assert_allclose(full, alone, rtol=1e-5, atol=1e-6)


def test_generator_batchnorm_uses_the_batch_in_training_and_running_averages_in_eval():
  gen = resnet.ResNetGenerator(width=8, bn_momentum=0.9, bn_epsilon=1e-5)
  z = jax.random.normal(jax.random.key(0), (4, 16))
  variables = gen.init(jax.random.key(1), z, train=False)
  _, updates = gen.apply(variables, z, train=True, mutable=["batch_stats"])
  moved = [not np.allclose(a, b) for a, b in
           zip(jax.tree.leaves(updates["batch_stats"]), jax.tree.leaves(variables["batch_stats"]))]
  assert all(moved)  # every BatchNorm's running statistics took a step
  # Eval mode: one example's image does not depend on its batch mates; training
  # mode (batch statistics) does.
  evaluated = gen.apply(variables, z, train=False)
  np.testing.assert_allclose(evaluated[:1], gen.apply(variables, z[:1], train=False),
                             rtol=1e-5, atol=1e-6)
  trained, _ = gen.apply(variables, z, train=True, mutable=["batch_stats"])
  trained_pair, _ = gen.apply(variables, z[:2], train=True, mutable=["batch_stats"])
  assert np.abs(trained[0] - trained_pair[0]).max() > 1e-3
  assert float(jnp.max(jnp.abs(evaluated))) <= 1.0


# --- Penalties on spectrally normalised critics --------------------------------------


@pytest.mark.usefixtures("_x64")
@pytest.mark.parametrize("options,penalty", [
    (_SNGAN_CRITIC, "gradient_penalty"),
    ({"spectral_norm": True, "norm": "layer"}, "squared_gradient_penalty"),
], ids=["sngan_wgan_gp_penalty", "wgan_gp_sn_layernorm_r1"])
def test_jvp_and_double_backward_agree_on_a_spectrally_normalised_critic(options, penalty):
  # Inside the penalty the critic is applied with update_stats=False: the inner
  # jax.grad over x sees a fixed u and writes nothing.
  critic = resnet.ResNetCritic(width=8, **options)
  kx, kp = jax.random.split(jax.random.key(0))
  x = jax.random.normal(kx, (2, 8, 8, 3), jnp.float64)
  variables = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), critic.init(kp, x))
  penalty_fn = getattr(penalties, penalty)

  @jax.jit
  def both(params):
    out = {}
    for method in penalties.PENALTY_METHODS:
      def loss(p, method=method):
        return penalty_fn(lambda y: critic.apply({**variables, "params": p}, y), x,
                          method=method)[0]
      value, grads = jax.value_and_grad(loss)(params)
      out[method] = value, ravel_pytree(grads)[0]
    return out

  out = both(variables["params"])
  (v_ref, g_ref), (v_jvp, g_jvp) = out["double_backward"], out["jvp"]
  assert g_ref.dtype == jnp.float64 and np.linalg.norm(g_ref) > 0
  np.testing.assert_allclose(v_jvp, v_ref, rtol=1e-10)
  np.testing.assert_allclose(g_jvp, g_ref, rtol=1e-8, atol=1e-12 * np.abs(g_ref).max())


def test_one_critic_update_advances_u_by_exactly_one_power_iteration():
  # The pattern layers.py describes: reals with update_stats=True (collecting
  # the new u), fakes and the penalty's closure from the same incoming u.
  critic = resnet.ResNetCritic(width=8, **_SNGAN_CRITIC)
  kr, kf, kp = jax.random.split(jax.random.key(0), 3)
  real = jax.random.normal(kr, (3, 8, 8, 3))
  fake = jax.random.normal(kf, (3, 8, 8, 3))
  variables = critic.init(kp, real)
  spectral = variables[layers.SPECTRAL]

  def loss(params):
    d_real, updates = critic.apply({"params": params, layers.SPECTRAL: spectral}, real,
                                   update_stats=True, mutable=[layers.SPECTRAL])
    critic_fn = lambda y: critic.apply({"params": params, layers.SPECTRAL: spectral}, y)
    penalty, _ = penalties.gradient_penalty(critic_fn, 0.5 * (real + fake), method="jvp")
    return jnp.mean(critic_fn(fake)) - jnp.mean(d_real) + 10.0 * penalty, updates

  grads, updates = jax.jit(jax.grad(loss, has_aux=True))(variables["params"])
  assert np.linalg.norm(ravel_pytree(grads)[0]) > 0
  # The written u is one power iteration from the incoming one, whatever the
  # number of critic calls (3, plus the penalty's inner and outer passes).
  for path, u in jax.tree_util.tree_flatten_with_path(updates[layers.SPECTRAL])[0]:
    name = path[-1].key  # "<layer>/kernel/u" or ".../sigma"
    if not name.endswith("/u"):
      continue
    kernel = np.asarray(_lookup(variables["params"], path[:-2])[name.split("/")[0]]["kernel"])
    w = kernel.reshape(-1, kernel.shape[-1])
    v = np.asarray(_lookup(spectral, path)) @ w.T
    v /= np.linalg.norm(v)
    u1 = v @ w
    np.testing.assert_allclose(u, u1 / np.linalg.norm(u1), rtol=1e-4, atol=1e-6)
    assert not np.allclose(u, _lookup(spectral, path), atol=1e-3)


# --- Mixed precision -------------------------------------------------------------------


def _scores_and_penalty_grad(critic, variables, x):
  def loss(params):
    return penalties.gradient_penalty(
        lambda y: critic.apply({**variables, "params": params}, y), x, method="jvp")[0]
  return critic.apply(variables, x), ravel_pytree(jax.grad(loss)(variables["params"]))[0]


def test_bfloat16_critic_and_penalty_gradient_are_close_to_float32():
  # Tolerances from measurement (width 16, 16x16, batch 4, 20 draws with and
  # without spectral norm): relative L2 error of the scores <= 1.4e-2 and of the
  # penalty's parameter gradient <= 5.8e-2 (cosine >= 0.998). bfloat16 keeps 8
  # significant bits (unit round-off 2^-9 = 2e-3), so errors of a few 1e-3 per
  # layer compound through 9 convs and the double pass; the bounds below leave
  # ~2x margin and are far below the O(1) error of a wrong computation.
  kx, kp = jax.random.split(jax.random.key(0))
  x = jnp.tanh(jax.random.normal(kx, (4, 16, 16, 3)))
  f32 = resnet.ResNetCritic(width=16, spectral_norm=True)
  bf16 = resnet.ResNetCritic(width=16, spectral_norm=True, dtype=jnp.bfloat16)
  variables = bf16.init(kp, x)
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables))
  # Every convolution and the output matmul of the bf16 critic run in bfloat16
  # (spectral norm's power iteration, also matmuls, stays float32).
  jaxpr = jax.make_jaxpr(lambda v: bf16.apply(v, x))(variables)
  eqns = [e for eq in jaxpr.eqns for e in [eq, *_sub_eqns(eq)]]
  convs = [e for e in eqns if e.primitive.name == "conv_general_dilated"]
  assert len(convs) == 10 and all(e.invars[0].aval.dtype == jnp.bfloat16 for e in convs)
  matmuls = [e for e in eqns if e.primitive.name == "dot_general"]
  assert any(e.invars[0].aval.dtype == jnp.bfloat16 for e in matmuls)

  s32, g32 = jax.jit(functools.partial(_scores_and_penalty_grad, f32))(variables, x)
  s16, g16 = jax.jit(functools.partial(_scores_and_penalty_grad, bf16))(variables, x)
  assert s16.dtype == jnp.float32 and g16.dtype == jnp.float32
  rel = lambda a, b: float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))
  assert 1e-5 < rel(s16, s32) < 3e-2  # lower bound: it really computed in bfloat16
  assert rel(g16, g32) < 0.1
  assert float(g16 @ g32 / jnp.linalg.norm(g16) / jnp.linalg.norm(g32)) > 0.995


def _sub_eqns(eqn):
  """Equations nested in an equation's sub-jaxprs (pjit, custom_jvp, ...)."""
  for param in eqn.params.values():
    jaxprs = param if isinstance(param, (tuple, list)) else [param]
    for j in jaxprs:
      inner = getattr(j, "jaxpr", None)
      if inner is not None and hasattr(inner, "eqns"):
        for e in inner.eqns:
          yield e
          yield from _sub_eqns(e)


def test_bfloat16_generator_keeps_float32_parameters_and_returns_float32_images():
  gen = resnet.ResNetGenerator(width=8, bn_momentum=0.9, bn_epsilon=1e-5, dtype=jnp.bfloat16)
  z = jax.random.normal(jax.random.key(0), (4, 16))
  variables = gen.init(jax.random.key(1), z, train=False)
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables))
  images, updates = gen.apply(variables, z, train=True, mutable=["batch_stats"])
  assert images.dtype == jnp.float32
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(updates))
  f32 = resnet.ResNetGenerator(width=8, bn_momentum=0.9, bn_epsilon=1e-5)
  reference, _ = f32.apply(variables, z, train=True, mutable=["batch_stats"])
  assert 1e-5 < float(jnp.abs(images - reference).max()) < 0.1


# --- Errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("options,message", [
    ({"norm": "batch"}, "critic norm 'batch'.*'none', 'layer'"),
    ({"pooling": "max"}, "critic pooling 'max'.*'mean', 'sum'"),
])
def test_unknown_critic_options_are_rejected_with_the_allowed_ones(options, message):
  with pytest.raises(ValueError, match=message):
    resnet.ResNetCritic(width=4, **options).init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))


def test_critic_rejects_images_whose_size_is_not_a_multiple_of_four():
  with pytest.raises(ValueError, match=r"multiples of 4.*\(1, 10, 10, 3\)"):
    resnet.ResNetCritic(width=4).init(jax.random.key(0), jnp.zeros((1, 10, 10, 3)))
