"""Randomness from one base key per run.

A step's randomness is `fold_in(base_key, step)` split into named keys; every
per-example draw (latent, interpolation epsilon, DRAGAN noise) comes from
`fold_in(named_key, global_example_index)`. Drawing per example rather than per
batch makes a run's draws independent of how the batch is split across devices
or hosts, and a resumed run repeats exactly the draws of an uninterrupted one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# The device-mesh axis of a batch's examples (jaxgan.mesh.DATA).
DATA_AXIS = "data"


def run_key(seed: int):
  """The run's one root key: training splits it, side streams fold an id into it."""
  return jax.random.PRNGKey(seed)


def stream_key(seed: int, stream: int):
  """fold_in(run_key(seed), stream): a side stream disjoint from training's."""
  return jax.random.fold_in(run_key(seed), stream)


def step_keys(base_key, step, names):
  """{name: key} for one step: fold_in(base_key, step) split once per name."""
  keys = jax.random.split(jax.random.fold_in(base_key, step), len(names))
  return dict(zip(names, keys))


def example_keys(key, first_index, count):
  """Keys [count] for global example indices first_index .. first_index+count-1.

  Traced under a mesh with a "data" axis, the keys (and every draw made from
  them) are split over it like the real batch: nothing else tells XLA how to
  place values born inside the step, and it computed them, and the generator's
  pass on them, for the global batch on every device.
  """
  indices = first_index + jnp.arange(count, dtype=jnp.uint32)
  keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, indices)
  mesh = jax.sharding.get_abstract_mesh()
  if DATA_AXIS in mesh.axis_names and count % mesh.shape[DATA_AXIS] == 0:
    keys = jax.lax.with_sharding_constraint(keys, jax.sharding.PartitionSpec(DATA_AXIS))
  return keys


def normal(keys, shape, dtype=jnp.float32):
  """One N(0, I) draw of `shape` per key: [len(keys), *shape]."""
  return jax.vmap(lambda k: jax.random.normal(k, shape, dtype))(keys)


def uniform(keys, shape=(), dtype=jnp.float32):
  """One U[0, 1) draw of `shape` per key: [len(keys), *shape]."""
  return jax.vmap(lambda k: jax.random.uniform(k, shape, dtype))(keys)


def randint(keys, maxval: int):
  """One integer uniform on [0, maxval) per key: int32 [len(keys)]."""
  return jax.vmap(lambda k: jax.random.randint(k, (), 0, maxval, jnp.int32))(keys)
