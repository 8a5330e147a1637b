"""bfloat16 compute (model.dtype="bfloat16") on every shipped critic, and a bf16 run.

1. The gradient penalty's parameter gradient of each critic the recipes build
   (the MLPs, the DCGAN at every image size, with layer norm and with spectral
   norm, the WGAN-GP ResNet with and without layer norm, SNGAN's), computed with
   the critic in bfloat16, stays within a stated tolerance of the same gradient
   in float32 (same parameters, same points). The penalty goes through
   jaxgan.train.critic_scores as in a run, so scores, input gradients, norms and
   the penalty are float32 around the bfloat16 network.
2. A 1,000-step toy WGAN-GP run in bfloat16 through jaxgan.loop.train_and_evaluate
   has no non-finite value: in its metrics, or its final state.

Tolerances (relative L2 error of the gradient, cosine with float32's), from
measurement at these sizes over 5 draws (seeds 0-4) with about 2x margin; the
largest measured values are in the comments. bfloat16 keeps 8 significant bits
(unit round-off 2^-9); the penalty's gradient is a second derivative and, near
||grad|| = 1, a difference of nearly equal terms, so its error is well above
the scores'. A wrong computation (float32 silently, the penalty in bfloat16, a
dropped term) lands outside them: the lower bound catches float32, a cosine
below 0.97 anything else.
"""

import functools
import json
import math
import os

import jax
from jax.flatten_util import ravel_pytree
import jax.numpy as jnp
import numpy as np
import pytest

from configs import sngan
from configs import wgan_gp
from jaxgan import factory
from jaxgan import loop
from jaxgan import penalties
from jaxgan import train as train_lib
from jaxgan import validation

_WIDTH = 16  # conv critics; the MLPs keep the recipes' widths

# name: (recipe, variant, overrides, (max relative error, min cosine)); measured max
# relative error / min cosine over seeds 0-4 in the comment.
CRITICS = {
    # 2-512x3-1: its 2-D inputs lose the most to bfloat16 (0.154 / 0.9895).
    "mlp_toy": (wgan_gp, "dataset=8gaussians", {}, (0.3, 0.975)),
    "mlp_digits": (wgan_gp, "dataset=digits", {}, (0.15, 0.994)),  # 0.072 / 0.9974
    "mlp_mnist": (wgan_gp, "dataset=mnist,arch=mlp", {}, (0.15, 0.994)),  # 0.076 / 0.9971
    "dcgan8": (wgan_gp, "dataset=digits,arch=dcgan", {}, (0.05, 0.999)),  # 0.021 / 0.9998
    "dcgan28": (wgan_gp, "dataset=mnist", {}, (0.07, 0.998)),  # 0.035 / 0.9994
    "dcgan32": (wgan_gp, "dataset=cifar10", {}, (0.07, 0.998)),  # 0.033 / 0.9995
    "dcgan32_layer_norm": (wgan_gp, "dataset=cifar10", {"model.critic_norm": "layer"},
                           (0.09, 0.998)),  # 0.042 / 0.9991
    "dcgan64": (wgan_gp, "dataset=celeb_a", {}, (0.1, 0.997)),  # 0.048 / 0.9989
    "dcgan32_spectral_norm": (sngan, "dataset=cifar10,arch=dcgan", {},
                              (0.06, 0.999)),  # 0.027 / 0.9997
    "resnet": (wgan_gp, "dataset=cifar10,arch=resnet", {}, (0.04, 0.999)),  # 0.020 / 0.9998
    "resnet_layer_norm": (wgan_gp, "dataset=cifar10,arch=resnet",
                          {"model.critic_norm": "layer"}, (0.35, 0.97)),  # 0.166 / 0.9863
    # Near ||grad|| = 1 the gradient's length is the sensitive part (0.104 / 0.9998).
    "sngan": (sngan, "dataset=cifar10", {}, (0.2, 0.999)),
}


def _spec(recipe, variant, overrides, dtype):
  config = recipe.get_config(variant)
  config.model.dtype = dtype
  if config.model.arch != "mlp":
    config.model.width = _WIDTH
    config.model.generator_width = _WIDTH
  for key, value in overrides.items():
    section, leaf = key.split(".")
    config[section][leaf] = value
  shape = validation.validate(config)
  return factory.make_step_spec(config, shape), shape


def _penalty_grad(spec, variables, x):
  """d/dparams of the WGAN-GP penalty at x, by the recipe's penalty method."""
  spectral = variables.get("spectral", {})

  def penalty(params):
    critic_fn = lambda y: train_lib.critic_scores(spec, params, spectral, y)[0]
    value, _ = penalties.gradient_penalty(critic_fn, x, method=spec.penalty.method)
    return value

  value, grads = jax.value_and_grad(penalty)(variables["params"])
  return value, ravel_pytree(grads)[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CRITICS))
def test_bfloat16_penalty_gradient_is_within_tolerance_of_float32(name):
  recipe, variant, overrides, (max_rel, min_cos) = CRITICS[name]
  spec32, shape = _spec(recipe, variant, overrides, "float32")
  spec16, _ = _spec(recipe, variant, overrides, "bfloat16")
  assert spec16.critic.dtype == jnp.bfloat16 and spec32.critic.dtype is None
  kx, kp = jax.random.split(jax.random.key(0))
  x = jnp.tanh(jax.random.normal(kx, (8,) + tuple(shape)))
  variables = spec32.critic.init(kp, x)  # float32 parameters, shared by both
  v32, g32 = jax.jit(functools.partial(_penalty_grad, spec32))(variables, x)
  v16, g16 = jax.jit(functools.partial(_penalty_grad, spec16))(variables, x)
  assert v16.dtype == jnp.float32 and g16.dtype == jnp.float32
  rel = float(jnp.linalg.norm(g16 - g32) / jnp.linalg.norm(g32))
  cos = float(g16 @ g32 / (jnp.linalg.norm(g16) * jnp.linalg.norm(g32)))
  assert rel > 1e-4, "bfloat16 gave float32's gradient: did it compute in bfloat16?"
  assert rel < max_rel and cos > min_cos, (name, rel, cos)
  np.testing.assert_allclose(float(v16), float(v32), rtol=max_rel)


@pytest.mark.slow
def test_thousand_step_bfloat16_toy_run_has_no_non_finite_value(tmp_path):
  config = wgan_gp.get_config("dataset=8gaussians")
  config.model.dtype = "bfloat16"
  config.model.hidden = (64, 64, 64)
  config.train.batch_size = 64
  config.train.num_steps = 1000
  config.log.every = 10
  config.log.eval_every = 0
  config.log.sample_every = 1000
  config.log.checkpoint_every = 1000
  assert factory.make_step_spec(config, (2,)).generator.dtype == jnp.bfloat16
  # The loop itself stops on a non-finite metric or state (errors.NonFiniteError);
  # finishing is the first check, the records the second.
  state = loop.train_and_evaluate(config, str(tmp_path / "run"))
  assert int(state.step) == 1000
  for leaf in jax.tree.leaves(state):
    if jnp.issubdtype(leaf.dtype, jnp.floating):
      assert bool(jnp.all(jnp.isfinite(leaf)))
  with open(os.path.join(tmp_path, "run", "metrics.jsonl")) as f:
    records = [r for r in map(json.loads, f) if "critic/loss" in r]
  assert [r["step"] for r in records] == list(range(10, 1001, 10))
  # perf/steps_per_second is NaN on the first line (no rate measured yet): not a
  # training value.
  values = [v for r in records for k, v in r.items()
            if isinstance(v, float) and not k.startswith("perf/")]
  assert len(values) > 1000 and all(math.isfinite(v) for v in values)
  # It trained: the critic separates reals from fakes by the end.
  assert records[-1]["critic/wasserstein_estimate"] > 0
