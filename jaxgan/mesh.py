"""Where the train step runs: one `jax.jit` over a device `Mesh`.

The step is written for the global batch (jaxgan/train.py knows nothing about
devices). Here the mesh has the axis "data": a batch [n_critic, B, ...] is sharded
along B, the GANState is replicated, and XLA inserts the all-reduces (gradients,
BatchNorm statistics, DRAGAN's std(x)). The same code runs on one device, N local
devices and M processes, each process feeding its own slice of the global batch.
Per-example randomness is drawn by global example index (jaxgan/rng.py), so a
run is the same on any number of devices up to float reassociation; the step is
traced under the mesh so that those draws are split over "data" too.

A population (jaxgan/population.py) adds a second axis, "population": its state
(leading member axis) and batch [members, n_critic, B, ...] are split along it.
Members never communicate: only "data" carries all-reduces. A single run keeps
the 1-D mesh.
"""

from __future__ import annotations

import functools
import math

import jax
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from jaxgan import errors
from jaxgan import rng as rng_lib
from jaxgan import train as train_lib

DATA = rng_lib.DATA_AXIS
POPULATION = "population"


def make_mesh(devices=None, *, members: int = 1) -> Mesh:
  """The mesh over every device of the job (all processes).

  A single run: 1-D, axis DATA (jax.devices() lists devices process by process,
  so process p's devices hold the p-th slice of the batch, the one it reads). A
  population of `members` runs: 2-D (POPULATION, DATA), gcd(members, devices)
  devices along POPULATION (each holding whole members), the rest along DATA.
  """
  devices = jax.devices() if devices is None else devices
  if members == 1:
    return Mesh(np.asarray(devices), (DATA,))
  groups = math.gcd(members, len(devices))
  return Mesh(np.asarray(devices).reshape(groups, len(devices) // groups),
              (POPULATION, DATA))


def _has_members(mesh: Mesh) -> bool:
  """Whether `mesh` holds a population's members (a second axis beside DATA)."""
  return POPULATION in mesh.axis_names


def state_sharding(mesh: Mesh) -> NamedSharding:
  """A single run's state: replicated. A population's: split along its member axis."""
  return NamedSharding(mesh, P(POPULATION) if _has_members(mesh) else P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """[n_critic, B, ...] split along B over the DATA axis; a population's
  [members, n_critic, B, ...] also along its member axis over POPULATION."""
  if _has_members(mesh):
    return NamedSharding(mesh, P(POPULATION, None, DATA))
  return NamedSharding(mesh, P(None, DATA))


def check_batch_size(global_batch_size: int, mesh: Mesh) -> None:
  """Raises ConfigError unless the global batch splits evenly over the mesh."""
  devices = mesh.shape[DATA]
  if global_batch_size % devices:
    where = (f"{jax.process_count()} process(es) x {jax.local_device_count()} local"
             if not _has_members(mesh) else
             f"the data axis of {mesh.size} devices shared by {mesh.shape[POPULATION]} "
             f"member group(s)")
    raise errors.ConfigError(
        f"train.batch_size={global_batch_size} does not split evenly over {devices} "
        f"devices ({where}); use a multiple of {devices}")


def put_state(tree, mesh: Mesh):
  """A host state (identical on every process) -> arrays placed as
  `state_sharding(mesh)` says: replicated, or a population's split by member."""
  sharding = state_sharding(mesh)

  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

  return jax.tree.map(put, tree)


def global_batch(local, mesh: Mesh):
  """This process's [n_critic, B / processes, ...] slice -> the global batch array."""
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(batch_sharding(mesh), x), local)


def to_host(tree):
  """Arrays -> host numpy arrays: this process's copy of replicated ones, the
  whole of sharded ones (a population's state, held by this process)."""
  def host(x):
    return np.asarray(x.addressable_data(0) if x.is_fully_replicated else x)

  return jax.tree.map(host, tree)


def step_on_batch(state, batch, *, spec):
  """train_step on a data item: images, or (images, labels) for a conditional run."""
  if isinstance(batch, tuple):
    return train_lib.train_step(state, *batch, spec=spec)
  return train_lib.train_step(state, batch, spec=spec)


def compile_step(spec: train_lib.StepSpec, mesh: Mesh, state, batch, *,
                 step_fn=step_on_batch):
  """`step_fn` for `spec`, compiled ahead of time for `state` and `batch` on `mesh`.

  `batch`: images [n_critic, B, ...], or (images, labels) for a conditional run.
  The state is donated and comes back placed as it went in; metrics come back
  replicated. On a population mesh each device runs the step on its own members
  only (shard_map, manual over POPULATION), while XLA partitions the batch over DATA.
  """
  fn = functools.partial(step_fn, spec=spec)
  if _has_members(mesh):
    # check_vma=False: the step's loop carries start as constants that the
    # varying-across-devices check would want marked; nothing here communicates.
    fn = jax.shard_map(fn, mesh=mesh, in_specs=(P(POPULATION), P(POPULATION)),
                       out_specs=P(POPULATION), axis_names={POPULATION}, check_vma=False)
  step = jax.jit(fn,
                 in_shardings=(state_sharding(mesh), batch_sharding(mesh)),
                 out_shardings=(state_sharding(mesh), NamedSharding(mesh, P())),
                 donate_argnums=0)
  with jax.set_mesh(mesh):  # rng.example_keys shards the step's draws over DATA
    return step.lower(state, batch).compile()
