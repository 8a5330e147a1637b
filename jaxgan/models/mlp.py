"""Fully connected generator and critic.

The toy configuration is the WGAN-GP authors' gan_toy.py: three hidden ReLU
layers of 512 units in both networks, a linear output, 2-D latent. The same
modules serve image data (flattened, tanh output in [-1, 1]).

Class-conditional (jaxgan/models/conditional.py): the generator concatenates a
learned K x K label embedding to z (`num_classes` > 0); the critic's last hidden
layer is phi(x) for the projection or AC-GAN head (`conditional`). With
num_classes=0 and conditional="none" the parameter trees are the unconditional
ones.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import conditional as conditional_lib
from jaxgan.models import layers


class MLPGenerator(nn.Module):
  """z[B, z_dim] (and labels[B] if num_classes) -> x[B, *out_shape]."""

  hidden: Sequence[int]
  out_shape: tuple[int, ...]
  tanh_output: bool  # images live in [-1, 1]; toy points are unbounded
  dtype: Any = None  # compute dtype (bfloat16: mixed precision); parameters float32
  num_classes: int = 0  # > 0: class-conditional (a label embedding beside z)

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    del train  # no batch statistics in this model
    conditional_lib.check_generator_labels(self.num_classes, labels)
    dense = lambda n: nn.Dense(n, dtype=self.dtype, param_dtype=jnp.float32)  # noqa: E731
    x = z
    if self.num_classes:
      # Mirza & Osindero's conditional MLP with an embedding in place of one-hot
      # (PyTorch-GAN cgan.py: Embedding(K, K) concatenated to the noise).
      embedded = conditional_lib.LabelEmbedding(self.num_classes, self.num_classes,
                                                name="label_embedding")(labels)
      x = jnp.concatenate([z, embedded.astype(z.dtype)], axis=-1)
    for width in self.hidden:
      x = nn.relu(dense(width)(x))
    x = dense(math.prod(self.out_shape))(x)
    if self.tanh_output:
      x = jnp.tanh(x)
    return layers.at_least_float32(x).reshape((z.shape[0],) + tuple(self.out_shape))


class MLPCritic(nn.Module):
  """x[B, ...] (and labels[B] for projection) -> scores[B] ((scores, logits) for acgan).

  Examples never interact (safe for per-example penalties).
  """

  hidden: Sequence[int]
  dtype: Any = None  # compute dtype (bfloat16: mixed precision); parameters float32
  conditional: str = "none"  # conditional_lib.CONDITIONALS
  num_classes: int = 0

  @nn.compact
  def __call__(self, x, labels=None):
    dense = lambda n: nn.Dense(n, dtype=self.dtype, param_dtype=jnp.float32)  # noqa: E731
    h = x.reshape((x.shape[0], -1))
    for width in self.hidden:
      h = nn.relu(dense(width)(h))
    score = dense(1)(h)[:, 0]
    return conditional_lib.critic_output(
        score, h, labels, conditional=self.conditional, num_classes=self.num_classes,
        spectral_norm=False, update_stats=False, dtype=self.dtype)
