"""Where the train step runs: one `jax.jit` over a device `Mesh`.

The step is written for the global batch (jaxgan/train.py knows nothing about
devices). This module places it: the mesh has the axis "data"; a batch
`[n_critic, B, ...]` is sharded along its example axis B, the GANState is
replicated, and XLA partitions the computation, inserting the all-reduces that
averaging gradients, BatchNorm statistics over the batch and DRAGAN's std(x)
need. The same code runs on one device, N local devices and M processes: each
process feeds its own slice of the global batch, and
`jax.make_array_from_process_local_data` assembles the global array.

Per-example randomness is drawn by global example index (jaxgan/rng.py), so a
run is the same on 1..N devices and 1..M processes up to float reassociation.

A second mesh axis for populations of independent runs goes beside "data":
the state then shards along it instead of being replicated; only the
shardings below change, not the step.
"""

from __future__ import annotations

import functools

import jax
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from jaxgan import errors
from jaxgan import train as train_lib

DATA = "data"


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh over every device of the job (all processes), axis DATA.

  jax.devices() lists devices process by process, so process p's devices hold
  the p-th contiguous slice of the global batch: the slice its data iterator reads.
  """
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (DATA,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """[n_critic, B, ...] split along B over the DATA axis."""
  return NamedSharding(mesh, P(None, DATA))


def check_batch_size(global_batch_size: int, mesh: Mesh) -> None:
  """Raises ConfigError unless the global batch splits evenly over the mesh."""
  devices = mesh.shape[DATA]
  if global_batch_size % devices:
    raise errors.ConfigError(
        f"train.batch_size={global_batch_size} does not split evenly over {devices} "
        f"devices ({jax.process_count()} process(es) x {jax.local_device_count()} "
        f"local); use a multiple of {devices}")


def put_replicated(tree, mesh: Mesh):
  """Host values (identical on every process) -> arrays replicated over the mesh."""
  sharding = replicated(mesh)

  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

  return jax.tree.map(put, tree)


def global_batch(local, mesh: Mesh):
  """This process's [n_critic, B / processes, ...] slice -> the global batch array."""
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(batch_sharding(mesh), x), local)


def to_host(tree):
  """Replicated arrays -> host numpy arrays (this process's copy)."""
  return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)


def _step_on_batch(state, batch, *, spec):
  """train_step on a data item: images, or (images, labels) for a conditional run."""
  if isinstance(batch, tuple):
    return train_lib.train_step(state, *batch, spec=spec)
  return train_lib.train_step(state, batch, spec=spec)


def compile_step(spec: train_lib.StepSpec, mesh: Mesh, state, batch):
  """train_step for `spec`, compiled ahead of time for `state` and `batch` on `mesh`.

  `batch` is the images [n_critic, B, ...], or for a conditional run the tuple
  (images, labels [n_critic, B]), both split along B. The state is donated (its
  buffers are reused for the new state) and comes back replicated; metrics come
  back replicated scalars.
  """
  step = jax.jit(functools.partial(_step_on_batch, spec=spec),
                 in_shardings=(replicated(mesh), batch_sharding(mesh)),
                 out_shardings=replicated(mesh), donate_argnums=0)
  return step.lower(state, batch).compile()
