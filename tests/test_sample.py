"""generator_output, the one way jaxgan draws samples: BatchNorm with running averages
or with each batch of 100's own statistics (the WGAN-GP authors' sampling), and
samples returned in the data's pixel convention."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from configs import wgan_gp
from jaxgan import factory
from jaxgan import sample
from jaxgan import train as train_lib
from jaxgan import validation


def test_the_authors_resnet_recipe_samples_with_batch_statistics():
  # gan_cifar_resnet.py: tflib batchnorm always normalises with the batch's statistics;
  # samples and Inception-score batches are Generator(100, ...).
  config = wgan_gp.get_config("dataset=cifar10,arch=resnet")
  assert config.model.sample_bn_stats == "batch" and sample.BATCH_STATS_SIZE == 100
  assert factory.make_step_spec(config, (32, 32, 3)).sample_bn_stats == "batch"
  assert wgan_gp.get_config("dataset=cifar10").model.sample_bn_stats == "running"


def test_batch_statistics_normalise_each_batch_of_100_with_its_own():
  config = wgan_gp.get_config("dataset=digits,arch=dcgan")
  config.model.width = 4
  shape = validation.validate(config)
  running = factory.make_step_spec(config, shape)
  batch = dataclasses.replace(running, sample_bn_stats="batch")
  state = jax.jit(train_lib.init_state, static_argnums=(0, 2))(
      running, jax.random.PRNGKey(0), shape)
  # Running averages that are not the batches' own (as after training).
  state = state.replace(generator_batch_stats=jax.tree.map(
      lambda v: v + 0.5, state.generator_batch_stats))
  z = jax.random.normal(jax.random.PRNGKey(1), (250, running.z_dim))

  @jax.jit
  def references(state, z):
    own = [train_lib.generate(running, state.generator_params, state.generator_batch_stats,
                              z[i:i + 100], train=True)[0] for i in (0, 100, 200)]
    return jnp.concatenate(own), train_lib.generate(
        running, state.generator_params, state.generator_batch_stats, z, train=False)[0]

  got = sample.generator_output(batch, state, z)
  expected, eval_mode = references(state, z)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)  # last batch: 50
  np.testing.assert_allclose(sample.generator_output(running, state, z), eval_mode,
                             rtol=1e-5, atol=1e-5)
  assert np.abs(got - np.asarray(eval_mode)).max() > 1e-2
  assert sample.describe_generator(batch, state, use_ema=False) == {
      "weights": "raw", "batch_norm": "batch statistics of each batch of 100 samples",
      "pixel_scaling": "closed"}


def test_samples_of_a_half_open_run_come_back_in_the_datas_convention():
  config = wgan_gp.get_config("dataset=digits")
  config.model.hidden = (8,)
  config.dataset.pixel_scaling = "half_open"
  shape = validation.validate(config)
  spec = factory.make_step_spec(config, shape)
  state = jax.jit(train_lib.init_state, static_argnums=(0, 2))(
      spec, jax.random.PRNGKey(0), shape)
  z = jax.random.normal(jax.random.PRNGKey(1), (8, spec.z_dim))
  raw = np.asarray(jax.jit(lambda p, z: train_lib.generate(spec, p, {}, z, train=False)[0])(
      state.generator_params, z))
  # The generator's v/128 - 1 is the data's v/127.5 - 1: (y + 1) * 256/255 - 1.
  np.testing.assert_allclose(sample.generator_output(spec, state, z),
                             (raw + 1) * 256 / 255 - 1, rtol=1e-6, atol=1e-6)
  assert jnp.abs(raw).max() > 0
