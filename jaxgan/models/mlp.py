"""Fully connected generator and critic.

The toy configuration is the WGAN-GP authors' gan_toy.py: three hidden ReLU
layers of 512 units in both networks, a linear output, 2-D latent. The same
modules serve image data (flattened, tanh output in [-1, 1]).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp


class MLPGenerator(nn.Module):
  """z[B, z_dim] -> x[B, *out_shape]."""

  hidden: Sequence[int]
  out_shape: tuple[int, ...]
  tanh_output: bool  # images live in [-1, 1]; toy points are unbounded
  dtype: Any = None  # compute dtype (bfloat16: mixed precision); parameters float32

  @nn.compact
  def __call__(self, z, train: bool = True):
    del train  # no batch statistics in this model
    dense = lambda n: nn.Dense(n, dtype=self.dtype, param_dtype=jnp.float32)  # noqa: E731
    x = z
    for width in self.hidden:
      x = nn.relu(dense(width)(x))
    x = dense(math.prod(self.out_shape))(x)
    if self.tanh_output:
      x = jnp.tanh(x)
    x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    return x.reshape((z.shape[0],) + tuple(self.out_shape))


class MLPCritic(nn.Module):
  """x[B, ...] -> scores[B]. Examples never interact (safe for per-example penalties)."""

  hidden: Sequence[int]
  dtype: Any = None  # compute dtype (bfloat16: mixed precision); parameters float32

  @nn.compact
  def __call__(self, x):
    dense = lambda n: nn.Dense(n, dtype=self.dtype, param_dtype=jnp.float32)  # noqa: E731
    h = x.reshape((x.shape[0], -1))
    for width in self.hidden:
      h = nn.relu(dense(width)(h))
    return dense(1)(h)[:, 0]
