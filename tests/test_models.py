"""Model shapes for every supported size, per-example independence of critics,
the depth-to-space op, and the stride-free transposed conv (same values and
gradients as nn.ConvTranspose in float64)."""

import dataclasses

import flax.linen as nn
import jax
from jax.flatten_util import ravel_pytree
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxgan import models
from jaxgan.models import dcgan
from jaxgan.models import layers


def _model_cfg(**overrides):
  cfg = ml_collections.ConfigDict(dict(
      arch="dcgan", z_dim=16, hidden=(32, 32), width=8, upsample="depth_to_space",
      generator_batch_norm=True, bn_momentum=0.9, bn_epsilon=1e-5, critic_norm="none",
      generator_width=0, spectral_norm=False, dtype="float32", bn_running_var="unbiased"))
  cfg.update(overrides)
  return cfg


def _layer_shapes(params):
  """{layer path: kernel shape} of a parameter tree."""
  flat = jax.tree_util.tree_flatten_with_path(params)[0]
  return {"/".join(k.key for k in path[:-1]): leaf.shape for path, leaf in flat
          if path[-1].key == "kernel"}


@pytest.mark.parametrize("size,channels", [(8, 1), (16, 3), (28, 1), (32, 3), (64, 3)])
@pytest.mark.parametrize("upsample", dcgan.UPSAMPLE_METHODS)
def test_dcgan_layers_follow_the_authors_width_rule_at_every_size(size, channels, upsample):
  # WGAN-GP's DCGAN: the critic doubles the width per stride-2 conv from DIM; the
  # generator mirrors it, halving per x2 block, and its last block emits the channels.
  width, z_dim = 8, 16
  gen, critic = models.make_models(_model_cfg(upsample=upsample), (size, size, channels))
  n = dcgan.num_blocks(size)
  base = size // 2**n
  z = jnp.ones((3, z_dim))
  g_vars = gen.init(jax.random.PRNGKey(0), z, train=False)
  g = _layer_shapes(g_vars["params"])
  assert g["Dense_0"] == (z_dim, base * base * width * 2**(n - 1))
  outs = [g[f"Upsample_{i}/" + ("ConvTranspose_0" if upsample == "conv_transpose"
                                else "Conv_0")][-1] for i in range(n)]
  per_block = [width * 2**(n - 2 - i) for i in range(n - 1)] + [channels]
  assert outs == (per_block if upsample == "conv_transpose" else [4 * c for c in per_block])
  images = gen.apply(g_vars, z, train=False)
  assert images.shape == (3, size, size, channels)
  c = _layer_shapes(critic.init(jax.random.PRNGKey(1), images)["params"])
  assert [c[f"Conv_{i}"] for i in range(n)] == [
      (4, 4, channels if i == 0 else width * 2**(i - 1), width * 2**i) for i in range(n)]
  side = size // 2**n
  assert c["Dense_0"] == (side * side * width * 2**(n - 1), 1)


@pytest.mark.parametrize("norm", dcgan.CRITIC_NORMS)
@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
def test_critic_scores_do_not_depend_on_batch_mates(arch, norm):
  # The per-example gradient penalty is only exact if examples never interact.
  _, critic = models.make_models(_model_cfg(arch=arch, critic_norm=norm), (16, 16, 3))
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 16, 16, 3))
  params = critic.init(jax.random.PRNGKey(1), x)
  assert "batch_stats" not in params
  full = critic.apply(params, x)
  alone = jnp.stack([critic.apply(params, x[i:i + 1])[0] for i in range(5)])
  np.testing.assert_allclose(full, alone, rtol=1e-5, atol=1e-6)


def test_mlp_generator_squashes_images_with_tanh_and_leaves_toy_points_unbounded():
  z = 3.0 * jax.random.normal(jax.random.PRNGKey(2), (64, 16))
  gen_points, _ = models.make_models(_model_cfg(arch="mlp"), (2,))
  assert not gen_points.tanh_output
  gen_images, _ = models.make_models(_model_cfg(arch="mlp"), (8, 8, 1))
  assert gen_images.tanh_output
  params = gen_images.init(jax.random.PRNGKey(0), z)
  raw = dataclasses.replace(gen_images, tanh_output=False).apply(params, z)
  np.testing.assert_allclose(gen_images.apply(params, z), jnp.tanh(raw), rtol=1e-6)
  assert raw.shape == (64, 8, 8, 1)


def test_depth_to_space_moves_channel_blocks_to_pixels():
  x = jnp.arange(2 * 1 * 1 * 4).reshape(2, 1, 1, 4).astype(jnp.float32)
  y = layers.depth_to_space(x)
  assert y.shape == (2, 2, 2, 1)
  np.testing.assert_array_equal(y[0, :, :, 0], [[0, 1], [2, 3]])


def test_supported_sizes_are_base_times_powers_of_two():
  assert dcgan.supported_sizes(64) == [8, 14, 16, 28, 32, 56, 64]
  assert dcgan.num_blocks(32) == 3 and dcgan.num_blocks(28) == 2
  assert dcgan.num_blocks(12) is None


def _values_and_gradients(module, params, x, weights):
  """Output, d<weights, out>/dx and d<weights, out>/dparams (flattened), float64."""
  def f(params, x):
    return jnp.sum(weights * module.apply({"params": params}, x))
  out = module.apply({"params": params}, x)
  g_params, g_x = jax.grad(f, argnums=(0, 1))(params, x)
  return out, g_x, ravel_pytree(g_params)[0]


def _assert_same_function(reference, rewrite, x_shape):
  """`rewrite` has `reference`'s parameter tree and init, and the same values and
  gradients (w.r.t. the input and every parameter) at random float64 points."""
  with jax.enable_x64(True):
    kx, kp, kw, kq = jax.random.split(jax.random.PRNGKey(0), 4)
    x = jax.random.normal(kx, x_shape, jnp.float64)
    p_ref = reference.init(kp, x)["params"]
    p_new = rewrite.init(kp, x)["params"]
    assert jax.tree.map(jnp.shape, p_new) == jax.tree.map(jnp.shape, p_ref)
    for a, b in zip(jax.tree.leaves(p_ref), jax.tree.leaves(p_new)):
      np.testing.assert_array_equal(a, b)  # same names -> same init draws
    # Random (non-zero) biases too, so every parameter's gradient is exercised.
    params = jax.tree.map(
        lambda p: p.astype(jnp.float64)
        + 0.1 * jax.random.normal(kq, p.shape, jnp.float64), p_ref)
    out_shape = jax.eval_shape(lambda: reference.apply({"params": params}, x)).shape
    weights = jax.random.normal(kw, out_shape, jnp.float64)
    ref = _values_and_gradients(reference, params, x, weights)
    new = _values_and_gradients(rewrite, params, x, weights)
  for a, b in zip(ref, new):
    assert b.dtype == np.float64 and a.shape == b.shape
    np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12 * np.abs(a).max())


@pytest.mark.parametrize("batch,size,c_in,c_out", [
    (2, 1, 1, 1), (3, 4, 3, 4), (2, 7, 5, 8), (2, 8, 4, 3), (1, 16, 6, 2)])
def test_subpixel_conv_transpose_equals_conv_transpose_and_its_gradients(
    batch, size, c_in, c_out):
  _assert_same_function(
      nn.ConvTranspose(c_out, (4, 4), strides=(2, 2), padding="SAME"),
      dcgan.SubPixelConvTranspose(c_out), (batch, size, size, c_in))




@pytest.mark.parametrize("conditional", ["none", "projection"])
def test_every_generator_batchnorm_averages_the_unbiased_batch_variance(conditional):
  # Per layer, (unbiased - 0.9) / (biased - 0.9) = m / (m - 1) (momentum 0.9, variances
  # starting at 1), with m = batch x height x width of that layer's input.
  arch, shape, batch, classes = "dcgan", (8, 8, 1), 3, 4
  z = jax.random.normal(jax.random.PRNGKey(0), (batch, 16))
  kw = {} if conditional == "none" else {"labels": jnp.arange(batch) % classes}
  stats = {}
  for running_var in ("unbiased", "biased"):
    gen, _ = models.make_models(_model_cfg(arch=arch, bn_running_var=running_var), shape,
                                conditional=conditional, num_classes=classes)
    variables = gen.init(jax.random.PRNGKey(1), z, **kw, train=False)
    _, updates = gen.apply(variables, z, **kw, train=True, mutable=["batch_stats"])
    stats[running_var] = {jax.tree_util.keystr(p): np.asarray(v, np.float64) for p, v in
                          jax.tree_util.tree_flatten_with_path(updates["batch_stats"])[0]
                          if p[-1].key == "var"}
  assert len(stats["unbiased"]) == 1  # 8x8: one block
  for path, unbiased in stats["unbiased"].items():
    ratio = (unbiased - 0.9) / (stats["biased"][path] - 0.9)
    m = np.median(ratio / (ratio - 1))
    side = np.sqrt(m / batch)
    assert abs(side - round(side)) < 0.05 and round(side) >= 1, (path, m)
    np.testing.assert_allclose(ratio, m / (m - 1), rtol=1e-4, err_msg=path)


def test_the_resnet_generators_take_the_running_variance_from_the_config():
  # The same layers.BatchNorm as the DCGAN's (above), in every block and conditional.
  for running_var in ("unbiased", "biased"):
    gen, _ = models.make_models(_model_cfg(arch="resnet", bn_running_var=running_var),
                                (32, 32, 3), conditional="acgan", num_classes=10)
    assert gen.bn_running_var == running_var
