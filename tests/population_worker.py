"""Run by tests/test_population_devices.py in a subprocess with forced CPU devices.

Trains one population for a few steps on the same batches twice, through
jaxgan.mesh: on a one-device mesh and on a mesh of every local device (members
along "population", the batch along "data"). Prints one JSON line: the largest
relative difference of any state leaf, the mesh's shape, and the shapes of the
state's and the batch's shards on the devices.
"""

import json
import sys

import jax
import numpy as np

sys.path.insert(0, sys.argv[1])  # repo root

from configs import dragan, wgan_gp  # noqa: E402
from jaxgan import mesh, runs, validation  # noqa: E402

RECIPES = {"wgan_gp": wgan_gp, "dragan": dragan}


def run(config, batches, devices):
  s = runs.setup(config, devices=devices)
  step, state = s.compile(s.init_state())
  for b in batches:
    batch = s.global_batch(b)
    state, _ = step(state, batch)
  return s.mesh, state, batch


def main():
  recipe, variant, members, method = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
  config = RECIPES[recipe].get_config(variant)
  config.train.batch_size = 16
  config.model.hidden = (32, 32)
  config.model.width = 8
  config.population.size = members
  config.population.method = method
  shape = validation.validate(config)
  rng = np.random.default_rng(0)
  batches = [np.tanh(rng.normal(size=(members, config.train.n_critic, 16) + shape)).astype(
      np.float32) for _ in range(3)]
  _, single, _ = run(config, batches, jax.devices()[:1])
  m, multi, batch = run(config, batches, jax.devices())
  worst = 0.0
  for a, b in zip(jax.tree.leaves(mesh.to_host(single)), jax.tree.leaves(mesh.to_host(multi))):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.dtype.kind == "f" and a.size:
      worst = max(worst, float(np.max(np.abs(a - b)) / (np.max(np.abs(a)) + 1e-12)))
  kernel = jax.tree.leaves(multi.members.critic_params)[0]
  print(json.dumps({
      "devices": len(jax.devices()), "mesh": dict(m.shape), "max_rel_diff": worst,
      "state_shard_shapes": sorted({tuple(s.data.shape) for s in kernel.addressable_shards}),
      "full_kernel_shape": list(kernel.shape),
      "batch_shard_shapes": sorted({tuple(s.data.shape) for s in batch.addressable_shards}),
  }))


if __name__ == "__main__":
  main()
