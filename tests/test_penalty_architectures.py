"""The jvp and double_backward gradient penalties agree on every shipped critic.

Same penalty value and same gradient w.r.t. every critic parameter (float64,
rtol 1e-6), for each critic the recipes build: the MLP critics (toy 2-D, digits
8x8, MNIST 28x28, hidden widths shrunk for speed) and the DCGAN critic at image
sizes 8, 16, 28, 32 and 64 with critic_norm "none" and "layer" (width 8). The
critics come from configs/wgan_gp.py through validation.validate and
models.make_models, as a run builds them. The CIFAR-10 ResNets (WGAN-GP's, with
layer norm, with spectral norm; SNGAN's) and the spectrally normalised DCGAN
critics of configs/sngan.py come through factory.make_step_spec and are scored
by jaxgan.train.critic_scores with their spectral state, as the step scores
them, under the WGAN-GP penalty and R1; the class-conditional critics (projection
and AC-GAN heads on the MLP, DCGAN and ResNet critics) likewise, each point scored
under its own label. No timings here:
benchmarks/step_throughput.py measures which method is faster.
"""

import jax
from jax.flatten_util import ravel_pytree
import jax.numpy as jnp
import numpy as np
import pytest

from configs import sngan
from configs import wgan_gp
from jaxgan import factory
from jaxgan import validation
from jaxgan import models as models_lib
from jaxgan import penalties
from jaxgan import train as train_lib
from jaxgan.models import dcgan

_SMALL_MLP = {"model.hidden": (16, 16, 16)}
# DCGAN critic image sizes: digits 8, a 16x16 image set, MNIST 28, CIFAR-10 32, 64x64.
_DCGAN_DATASETS = {8: ("digits", 8), 16: ("cifar10", 16), 28: ("mnist", 28),
                   32: ("cifar10", 32), 64: ("celeb_a", 64)}

CRITICS = [
    ("mlp_toy", "dataset=8gaussians,arch=mlp", _SMALL_MLP),
    ("mlp_digits", "dataset=digits,arch=mlp", _SMALL_MLP),
    ("mlp_mnist", "dataset=mnist,arch=mlp", _SMALL_MLP),
] + [
    (f"dcgan{size}_{norm}", f"dataset={name},arch=dcgan",
     {"dataset.image_size": image_size, "model.width": 8, "model.critic_norm": norm})
    for size, (name, image_size) in _DCGAN_DATASETS.items()
    for norm in dcgan.CRITIC_NORMS
]


def _critic(arg, overrides):
  config = wgan_gp.get_config(arg)
  for key, value in overrides.items():
    section, leaf = key.split(".")
    config[section][leaf] = value
  shape = validation.validate(config)
  _, critic = models_lib.make_models(config.model, shape)
  return critic, shape


def test_every_critic_norm_and_the_shipped_image_sizes_are_covered():
  assert set(dcgan.CRITIC_NORMS) == {"none", "layer"}
  for size in _DCGAN_DATASETS:
    assert dcgan.num_blocks(size) is not None


@pytest.mark.parametrize("arg,overrides", [c[1:] for c in CRITICS],
                         ids=[c[0] for c in CRITICS])
def test_jvp_and_double_backward_penalties_give_the_same_value_and_parameter_gradients(
    arg, overrides):
  critic, shape = _critic(arg, overrides)
  with jax.enable_x64(True):
    kx, kp = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(kx, (2,) + tuple(shape), jnp.float64)
    params = critic.init(kp, x)["params"]
    params = jax.tree.map(lambda p: p.astype(jnp.float64), params)

    @jax.jit
    def both(params, x):
      out = {}
      for method in penalties.PENALTY_METHODS:
        def penalty(p, method=method):
          return penalties.gradient_penalty(
              lambda y: critic.apply({"params": p}, y), x, target=1.0,
              method=method)[0]
        value, grads = jax.value_and_grad(penalty)(params)
        out[method] = value, ravel_pytree(grads)[0]
      return out

    out = jax.device_get(both(params, x))
  assert set(out) == {"double_backward", "jvp"}
  (v_ref, g_ref), (v_jvp, g_jvp) = out["double_backward"], out["jvp"]
  assert g_ref.dtype == np.float64 and np.linalg.norm(g_ref) > 0
  np.testing.assert_allclose(v_jvp, v_ref, rtol=1e-6)
  # atol only for entries that cancel to ~0 in both (float64 round-off).
  np.testing.assert_allclose(g_jvp, g_ref, rtol=1e-6, atol=1e-12 * np.abs(g_ref).max())


# name: (recipe, variant, overrides, penalty function); width 8 throughout.
SPECTRAL_AND_RESNET_CRITICS = {
    "resnet": (wgan_gp, "dataset=cifar10,arch=resnet", {}, "gradient_penalty"),
    "resnet_layer_norm": (wgan_gp, "dataset=cifar10,arch=resnet",
                          {"model.critic_norm": "layer"}, "squared_gradient_penalty"),
    "resnet_spectral_norm": (wgan_gp, "dataset=cifar10,arch=resnet",
                             {"model.spectral_norm": True}, "gradient_penalty"),
    "sngan_r1": (sngan, "dataset=cifar10", {}, "squared_gradient_penalty"),
    "sngan_wgan_gp": (sngan, "dataset=cifar10", {}, "gradient_penalty"),
    "dcgan32_spectral_norm": (sngan, "dataset=cifar10,arch=dcgan", {}, "gradient_penalty"),
    "dcgan28_spectral_layer_norm": (sngan, "dataset=mnist", {"model.critic_norm": "layer"},
                                    "squared_gradient_penalty"),
}


@pytest.mark.slow  # float64 ResNets at 32x32
@pytest.mark.parametrize("name", sorted(SPECTRAL_AND_RESNET_CRITICS))
def test_both_penalty_methods_agree_on_the_resnet_and_spectrally_normalised_critics(name):
  recipe, variant, overrides, penalty_name = SPECTRAL_AND_RESNET_CRITICS[name]
  config = recipe.get_config(variant)
  config.model.width = 8
  config.model.generator_width = 8
  for key, value in overrides.items():
    section, leaf = key.split(".")
    config[section][leaf] = value
  shape = validation.validate(config)
  spec = factory.make_step_spec(config, shape)
  penalty_fn = getattr(penalties, penalty_name)
  with jax.enable_x64(True):
    kx, kp = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(kx, (2,) + tuple(shape), jnp.float64)
    variables = jax.tree.map(lambda a: a.astype(jnp.float64),
                             spec.critic.init(kp, x.astype(jnp.float32)))
    spectral = variables.get("spectral", {})
    assert bool(spectral) == config.model.spectral_norm

    @jax.jit
    def both(params):
      out = {}
      for method in penalties.PENALTY_METHODS:
        def penalty(p, method=method):
          critic_fn = lambda y: train_lib.critic_scores(spec, p, spectral, y)[0]
          return penalty_fn(critic_fn, x, method=method)[0]
        value, grads = jax.value_and_grad(penalty)(params)
        out[method] = value, ravel_pytree(grads)[0]
      return out

    out = jax.device_get(both(variables["params"]))
  (v_ref, g_ref), (v_jvp, g_jvp) = out["double_backward"], out["jvp"]
  assert g_ref.dtype == np.float64 and np.linalg.norm(g_ref) > 0
  np.testing.assert_allclose(v_jvp, v_ref, rtol=1e-6)
  np.testing.assert_allclose(g_jvp, g_ref, rtol=1e-6, atol=1e-12 * np.abs(g_ref).max())


# name: (recipe, variant, overrides, penalty function). The class-conditional critics,
# scored as the step scores them (train.critic_outputs with each point's label; the
# AC-GAN critic's score only, its logits are not penalised); width 8, 10 classes.
CONDITIONAL_CRITICS = {
    "mlp_digits_projection": (wgan_gp, "conditional=projection", _SMALL_MLP,
                              "gradient_penalty"),
    "mlp_digits_acgan": (wgan_gp, "conditional=acgan", _SMALL_MLP, "gradient_penalty"),
    "dcgan28_layer_norm_projection": (
        wgan_gp, "dataset=mnist,arch=dcgan,conditional=projection",
        {"model.width": 8, "model.critic_norm": "layer"}, "gradient_penalty"),
    "dcgan8_spectral_norm_projection": (sngan, "dataset=digits,conditional=projection",
                                        {"model.width": 8}, "squared_gradient_penalty"),
    "dcgan8_acgan": (wgan_gp, "dataset=digits,arch=dcgan,conditional=acgan",
                     {"model.width": 8}, "gradient_penalty"),
}
SLOW_CONDITIONAL_CRITICS = {
    "resnet_acgan": (wgan_gp, "dataset=cifar10,arch=resnet,conditional=acgan",
                     {"model.width": 8, "model.generator_width": 8}, "gradient_penalty"),
    "sngan_projection": (sngan, "dataset=cifar10,conditional=projection",
                         {"model.width": 8, "model.generator_width": 8}, "gradient_penalty"),
}


def _conditional_penalties(name, table):
  recipe, variant, overrides, penalty_name = table[name]
  config = recipe.get_config(variant)
  for key, value in overrides.items():
    section, leaf = key.split(".")
    config[section][leaf] = value
  shape = validation.validate(config)
  spec = factory.make_step_spec(config, shape, 10)
  assert spec.conditional == config.model.conditional != "none"
  penalty_fn = getattr(penalties, penalty_name)
  with jax.enable_x64(True):
    kx, kp = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(kx, (3,) + tuple(shape), jnp.float64)
    labels = jnp.array([7, 0, 3], jnp.int32)
    kw = {"labels": labels} if spec.conditional == "projection" else {}
    variables = jax.tree.map(lambda a: a.astype(jnp.float64),
                             spec.critic.init(kp, x.astype(jnp.float32), **kw))
    spectral = variables.get("spectral", {})

    @jax.jit
    def both(params):
      out = {}
      for method in penalties.PENALTY_METHODS:
        def penalty(p, method=method):
          critic_fn = lambda y: train_lib.critic_outputs(spec, p, spectral, y, labels)[0]
          return penalty_fn(critic_fn, x, method=method)[0]
        value, grads = jax.value_and_grad(penalty)(params)
        out[method] = value, ravel_pytree(grads)[0]
        if method == "double_backward" and "projection" in grads:
          out["embedding"] = jnp.linalg.norm(grads["projection"]["embedding"])
      return out

    out = jax.device_get(both(variables["params"]))
  (v_ref, g_ref), (v_jvp, g_jvp) = out["double_backward"], out["jvp"]
  if spec.conditional == "projection":
    # The class embedding is inside the penalised function: it gets a gradient.
    assert out["embedding"] > 0
  assert g_ref.dtype == np.float64 and np.linalg.norm(g_ref) > 0
  np.testing.assert_allclose(v_jvp, v_ref, rtol=1e-6)
  np.testing.assert_allclose(g_jvp, g_ref, rtol=1e-6, atol=1e-12 * np.abs(g_ref).max())


@pytest.mark.parametrize("name", sorted(CONDITIONAL_CRITICS))
def test_both_penalty_methods_agree_on_the_conditional_critics(name):
  _conditional_penalties(name, CONDITIONAL_CRITICS)


@pytest.mark.slow  # float64 ResNets at 32x32
@pytest.mark.parametrize("name", sorted(SLOW_CONDITIONAL_CRITICS))
def test_both_penalty_methods_agree_on_the_conditional_resnet_critics(name):
  _conditional_penalties(name, SLOW_CONDITIONAL_CRITICS)
