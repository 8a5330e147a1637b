"""Run by tests/test_mesh.py in a subprocess with forced CPU devices.

Trains one config for a few steps on the same global batches twice, through
jaxgan.mesh: on a one-device mesh and on a mesh of every local device. Prints
one JSON line: the largest relative difference of any state leaf, whether the
output state is replicated identically on every device, and how the batch was
laid out.
"""

import json
import sys

import jax
import numpy as np

sys.path.insert(0, sys.argv[1])  # repo root

from configs import dragan, wgan_gp  # noqa: E402
from jaxgan import errors, mesh, runs, validation  # noqa: E402

RECIPES = {"wgan_gp": wgan_gp, "dragan": dragan}


def run(config, batches, devices):
  s = runs.setup(config, devices=devices)
  step, state = s.compile(s.init_state())
  for b in batches:
    batch = s.global_batch(b)
    state, metrics = step(state, batch)
  return state, metrics, batch


def main():
  recipe, variant, steps = sys.argv[2], sys.argv[3], int(sys.argv[4])
  config = RECIPES[recipe].get_config(variant)
  config.train.batch_size = 16
  config.model.hidden = (32, 32)
  config.model.width = 8
  shape = validation.validate(config)
  rng = np.random.default_rng(0)
  batches = [np.tanh(rng.normal(size=(config.train.n_critic, 16) + shape)).astype(np.float32)
             for _ in range(steps)]
  single, _, _ = run(config, batches, jax.devices()[:1])
  multi, metrics, batch = run(config, batches, jax.devices())
  replicated = all(
      all(np.array_equal(np.asarray(x.addressable_data(0)), np.asarray(s.data))
          for s in x.addressable_shards)
      for x in jax.tree.leaves(multi))
  worst = 0.0
  for a, b in zip(jax.tree.leaves(mesh.to_host(single)), jax.tree.leaves(mesh.to_host(multi))):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.dtype.kind == "f" and a.size:
      worst = max(worst, float(np.max(np.abs(a - b)) / (np.max(np.abs(a)) + 1e-12)))
  try:
    mesh.check_batch_size(17, mesh.make_mesh())
    refusal = None
  except errors.ConfigError as e:
    refusal = str(e)
  print(json.dumps({
      "refusal_of_17": refusal,
      "devices": len(jax.devices()), "max_rel_diff": worst, "replicated": replicated,
      "batch_shard_shapes": sorted({tuple(s.data.shape) for s in batch.addressable_shards}),
      "generator_loss": float(metrics["generator/loss"])}))


if __name__ == "__main__":
  main()
