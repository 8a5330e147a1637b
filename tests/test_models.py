"""Model shapes for every supported size, per-example independence of critics,
the depth-to-space op, and the factory's errors."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxgan import models
from jaxgan.models import dcgan


def _model_cfg(**overrides):
  cfg = ml_collections.ConfigDict(dict(
      arch="dcgan", z_dim=16, hidden=(32, 32), width=8, upsample="depth_to_space",
      generator_batch_norm=True, bn_momentum=0.9, critic_norm="none"))
  cfg.update(overrides)
  return cfg


@pytest.mark.parametrize("size,channels", [(8, 1), (16, 3), (28, 1), (32, 3), (64, 3)])
@pytest.mark.parametrize("upsample", dcgan.UPSAMPLE_METHODS)
def test_dcgan_generator_and_critic_shapes(size, channels, upsample):
  gen, critic = models.make_models(_model_cfg(upsample=upsample), (size, size, channels))
  z = jnp.ones((3, 16))
  g_vars = gen.init(jax.random.PRNGKey(0), z, train=False)
  images = gen.apply(g_vars, z, train=False)
  assert images.shape == (3, size, size, channels)
  assert float(jnp.max(jnp.abs(images))) <= 1.0  # tanh output
  c_vars = critic.init(jax.random.PRNGKey(1), images)
  assert critic.apply(c_vars, images).shape == (3,)


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


def test_mlp_generator_outputs_points_or_images():
  gen, _ = models.make_models(_model_cfg(arch="mlp"), (2,))
  z = jnp.ones((4, 16))
  points = gen.apply(gen.init(jax.random.PRNGKey(0), z), z)
  assert points.shape == (4, 2)
  gen, _ = models.make_models(_model_cfg(arch="mlp"), (8, 8, 1))
  images = gen.apply(gen.init(jax.random.PRNGKey(0), z), z)
  assert images.shape == (4, 8, 8, 1) and float(jnp.max(jnp.abs(images))) <= 1.0


def test_depth_to_space_moves_channel_blocks_to_pixels():
  x = jnp.arange(2 * 1 * 1 * 4).reshape(2, 1, 1, 4).astype(jnp.float32)
  y = dcgan.depth_to_space(x)
  assert y.shape == (2, 2, 2, 1)
  np.testing.assert_array_equal(y[0, :, :, 0], [[0, 1], [2, 3]])


def test_supported_sizes_are_base_times_powers_of_two():
  assert dcgan.supported_sizes(64) == [8, 14, 16, 28, 32, 56, 64]
  assert dcgan.num_blocks(32) == 3 and dcgan.num_blocks(28) == 2
  assert dcgan.num_blocks(12) is None


@pytest.mark.parametrize("cfg,shape,message", [
    (_model_cfg(), (12, 12, 1), "cannot build images of size 12x12; allowed square sizes: 8, 14"),
    (_model_cfg(), (2,), "use model.arch='mlp'"),
    (_model_cfg(arch="vit"), (8, 8, 1), "unknown model.arch 'vit'; allowed: mlp, dcgan"),
    (_model_cfg(critic_norm="batch"), (8, 8, 1), "unknown model.critic_norm 'batch'; allowed: none, layer"),
])
def test_factory_errors_name_the_value_and_the_allowed_ones(cfg, shape, message):
  with pytest.raises(ValueError, match=message):
    models.make_models(cfg, shape)
