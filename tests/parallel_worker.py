"""Run by tests/test_parallel.py in a subprocess with forced CPU devices.

Trains the same config for a few steps on the same global batches twice: jit on
one device and pmap over all local devices. Prints one JSON line: the largest
relative parameter difference between the two and whether the pmapped replicas
are bitwise identical.
"""

import functools
import json
import sys

import jax
import numpy as np

sys.path.insert(0, sys.argv[1])  # repo root

from configs import dragan, wgan_gp  # noqa: E402
from jaxgan import factory, parallel, train  # noqa: E402

RECIPES = {"wgan_gp": wgan_gp, "dragan": dragan}


def main():
  recipe, variant, steps = sys.argv[2], sys.argv[3], int(sys.argv[4])
  config = RECIPES[recipe].get_config(variant)
  config.train.batch_size = 16
  config.model.hidden = (32, 32)
  config.model.width = 8
  shape = factory.validate(config)
  n = jax.local_device_count()
  rng = np.random.default_rng(0)
  batches = [np.tanh(rng.normal(size=(config.train.n_critic, 16) + shape)).astype(np.float32)
             for _ in range(steps)]

  single_spec = factory.make_step_spec(config, shape)
  state = train.init_state(single_spec, jax.random.PRNGKey(0), shape)
  single_step = jax.jit(functools.partial(train.train_step, spec=single_spec))
  single = state
  for b in batches:
    single, _ = single_step(single, b)

  spec = factory.make_step_spec(config, shape, axis_name=parallel.AXIS)
  step = parallel.compile_step(spec)
  multi = parallel.replicate(state)
  for b in batches:
    per_device = b.reshape(b.shape[0], n, 16 // n, *shape).swapaxes(0, 1)
    multi, metrics = step(multi, per_device)

  leaves_multi = jax.tree.leaves(multi)
  replicas_identical = all(
      all(np.array_equal(np.asarray(x[0]), np.asarray(x[d])) for d in range(n))
      for x in leaves_multi)
  worst = 0.0
  for a, b in zip(jax.tree.leaves(single), leaves_multi):
    a = np.asarray(a, np.float64)
    b = np.asarray(b[0], np.float64)
    if a.dtype.kind == "f" and a.size:
      worst = max(worst, float(np.max(np.abs(a - b)) / (np.max(np.abs(a)) + 1e-12)))
  print(json.dumps({"devices": n, "max_rel_diff": worst,
                    "replicas_identical": replicas_identical,
                    "generator_loss": float(np.asarray(metrics["generator/loss"])[0])}))


if __name__ == "__main__":
  main()
