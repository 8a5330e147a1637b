"""Data parallelism: jit on one device, pmap over all devices (axis "data").

One code path for one device, several local devices and several hosts: with
more than one device in the job, the step is `jax.pmap`-ed over axis "data";
each process feeds `[local_devices, n_critic, B / devices, ...]`, gradients,
metrics and BatchNorm statistics are averaged over the axis inside the step, so
parameters stay identical on every device. Per-example randomness comes from
global example indices (jaxgan/rng.py), so the trajectory does not depend on
the device count (up to floating-point reassociation).
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from jaxgan import train as train_lib

AXIS = "data"


def is_parallel() -> bool:
  """Whether the step is pmapped: more than one device in the whole job."""
  return jax.device_count() > 1


def check_global_batch(global_batch_size: int) -> None:
  """Raises ValueError unless the global batch splits evenly over all devices."""
  devices = jax.device_count()
  if global_batch_size % devices:
    raise ValueError(
        f"train.batch_size={global_batch_size} does not split evenly over {devices} "
        f"devices ({jax.process_count()} process(es) x {jax.local_device_count()} local); "
        f"use a multiple of {devices}")


def compile_step(spec: train_lib.StepSpec):
  """The compiled step: pmap over AXIS if spec.axis_name is set, else jit."""
  step = functools.partial(train_lib.train_step, spec=spec)
  if spec.axis_name is None:
    return jax.jit(step, donate_argnums=0)
  return jax.pmap(step, axis_name=spec.axis_name, donate_argnums=0)


def replicate(tree):
  """One copy per local device along a new leading axis (pmap's input layout)."""
  n = jax.local_device_count()
  return jax.tree.map(lambda x: np.broadcast_to(np.asarray(x), (n,) + np.shape(x)), tree)


def unreplicate(tree):
  """The first local device's copy, as host numpy arrays."""
  return jax.tree.map(lambda x: np.asarray(x[0]), tree)
