"""The golden-value configurations of tests/test_train.py, and a printer for them.

    python tests/golden_step.py     # prints GOLDEN as it should read now

Each case is one train_step from a fixed seed on a fixed synthetic batch; its
metrics are pinned in tests/test_train.py. When a change to the step is
intended, run this file and paste its output over GOLDEN there (and say in the
commit why the numbers moved).
"""

import functools
import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs import dragan, lsgan, nsgan, sngan, wgan, wgan_gp  # noqa: E402
from jaxgan import runs, train  # noqa: E402

KEYS = ("critic/loss", "critic/penalty", "generator/loss", "critic/param_grad_norm",
        "generator/param_grad_norm")

CASES = {
    # WGAN-GP on a toy set: MLP critic, penalty on interpolates, linear schedule.
    "wgan_gp_8gaussians_mlp": (wgan_gp, "dataset=8gaussians", {}),
    # WGAN with weight clipping on a DCGAN (RMSProp, n_critic 5).
    "wgan_clip_digits_dcgan": (wgan, "dataset=digits,arch=dcgan", {}),
    # DRAGAN on a DCGAN whose generator has BatchNorm (std_uniform points, NS loss).
    "dragan_digits_dcgan_bn": (dragan, "dataset=digits,arch=dcgan", {}),
    # The two losses without a penalty, on the digits MLP.
    "lsgan_digits_mlp": (lsgan, "dataset=digits", {}),
    "nsgan_digits_mlp": (nsgan, "dataset=digits", {}),
    # SNGAN on digits: a spectrally normalised DCGAN critic (hinge loss) whose power
    # iteration advances at every training call (the recipe's per_call), BN generator.
    "sngan_digits_dcgan_sn": (sngan, "dataset=digits", {}),
}

# Why a case's numbers last moved (shown when they move again).
CHANGES = {
    "sngan_digits_dcgan_sn": ("pinned with model.spectral_norm_iteration='per_call', "
                              "the SNGAN recipe's default since it follows the authors' "
                              "updater.py (two power iterations per critic update, one "
                              "at the generator update); 'per_update' gives other "
                              "numbers"),
}


def run_case(name):
  """One train_step of case `name`: its metrics as Python floats."""
  recipe, variant, _ = CASES[name]
  config = recipe.get_config(variant)
  config.train.batch_size = 8
  config.train.n_critic = min(config.train.n_critic, 3)
  config.model.hidden = (16, 16)
  config.model.width = 8
  run = runs.setup(config)
  spec, shape, state = run.spec, run.data_shape, run.init_state()
  real = np.random.default_rng(0).normal(size=(config.train.n_critic, 8) + shape)
  real = (np.tanh(real) if len(shape) == 3 else real).astype(np.float32)
  _, metrics = jax.jit(functools.partial(train.train_step, spec=spec))(state, real)
  return {k: float(metrics[k]) for k in KEYS}


if __name__ == "__main__":
  print("GOLDEN = {")
  for case in CASES:
    values = run_case(case)
    print(f"    {case!r}: {{")
    for k in KEYS:
      print(f"        {k!r}: {values[k]!r},")
    print("    },")
  print("}")
