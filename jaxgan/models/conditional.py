"""Class conditioning: conditional BatchNorm, a label embedding, the conditional critic heads.

Generators (labels y [B] int32 in [0, K)):
  ConditionalBatchNorm  batch normalisation without its own scale and offset, then a
                        per-class scale gamma[y] and offset beta[y] (Dumoulin et al.
                        2017; de Vries et al. 2017): the WGAN-GP authors' tflib
                        cond_batchnorm.py and SNGAN's
                        CategoricalConditionalBatchNormalization, both initialised
                        gamma = 1, beta = 0 for every class. In the DCGAN and ResNet
                        generators it replaces BatchNorm wherever the references
                        condition (see the models).
  LabelEmbedding        an embedding of y concatenated to the latent (the MLP
                        generator), as the widely used conditional GAN of
                        eriklindernoren/PyTorch-GAN (cgan.py): a K x K table drawn
                        N(0, 1) like torch.nn.Embedding.

Critic heads, on the critic's last features phi(x) [B, F] (before its output linear):
  "projection"  Miyato & Koyama 2018, eq. 3: score = psi(phi(x)) + <embed(y), phi(x)>;
                the embedding [K, F] is spectrally normalised with the rest of a
                spectrally normalised critic (SNGAN's SNEmbedID) and drawn Glorot
                uniform (snresnet_32.py's l_y).
  "acgan"       Odena et al. 2017 as the WGAN-GP authors use it (gan_cifar_resnet.py):
                a K-way linear on phi(x) ("ACGANOutput") beside the score; the critic
                is not told the label. The critic returns (scores [B], logits [B, K]).

Examples never interact in these heads, so a conditional critic stays safe for the
per-example gradient penalty: each example's score depends on its own x and y only.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import layers

CONDITIONALS = ("none", "acgan", "projection")


def check_conditional(conditional: str, num_classes: int) -> None:
  """Raises ValueError unless `conditional` is known and has classes when it is used."""
  if conditional not in CONDITIONALS:
    raise ValueError(f"unknown model.conditional {conditional!r}; allowed: "
                     f"{', '.join(CONDITIONALS)}")
  if conditional != "none" and num_classes < 2:
    raise ValueError(f"model.conditional={conditional!r} needs at least 2 classes, got "
                     f"num_classes={num_classes}")


def check_generator_labels(num_classes: int, labels) -> None:
  """A class-conditional generator (num_classes > 0) needs labels; others take none."""
  if num_classes and labels is None:
    raise ValueError(f"a class-conditional generator ({num_classes} classes) needs labels [B]")
  if not num_classes and labels is not None:
    raise ValueError("labels were given to an unconditional generator")


def _per_class(table, labels, like):
  """table[labels] shaped to broadcast over `like` [B, ..., C]."""
  rows = table[labels].astype(like.dtype)
  return rows.reshape((labels.shape[0],) + (1,) * (like.ndim - 2) + (rows.shape[-1],))


class ConditionalBatchNorm(nn.Module):
  """BatchNorm whose scale and offset are looked up per example's class.

  y = (x - mean) / sqrt(var + epsilon) * scale[label] + offset[label]. Statistics
  and running averages are layers.BatchNorm's (its submodule "norm" holds them in
  batch_stats); parameters: scale [K, C] (ones) and offset [K, C] (zeros).
  """

  num_classes: int
  use_running_average: bool
  momentum: float
  epsilon: float
  dtype: Any = None  # compute dtype; parameters float32
  running_var: str = "unbiased"  # layers.BN_RUNNING_VARS: what the running variance averages

  @nn.compact
  def __call__(self, x, labels):
    channels = x.shape[-1]
    h = layers.BatchNorm(use_running_average=self.use_running_average, momentum=self.momentum,
                         epsilon=self.epsilon, use_scale=False, use_bias=False,
                         dtype=self.dtype, param_dtype=jnp.float32,
                         running_var=self.running_var, name="norm")(x)
    scale = self.param("scale", nn.initializers.ones_init(), (self.num_classes, channels),
                       jnp.float32)
    offset = self.param("offset", nn.initializers.zeros_init(),
                        (self.num_classes, channels), jnp.float32)
    return h * _per_class(scale, labels, h) + _per_class(offset, labels, h)


class LabelEmbedding(nn.Module):
  """labels [B] -> learned vectors [B, features] (N(0, 1) initialisation)."""

  num_classes: int
  features: int

  @nn.compact
  def __call__(self, labels):
    return nn.Embed(self.num_classes, self.features,
                    embedding_init=nn.initializers.normal(1.0), param_dtype=jnp.float32,
                    name="embed")(labels)


def projection(features, labels, num_classes: int, *, spectral_norm: bool,
               update_stats: bool, dtype: Any = None):
  """<embed(y), phi(x)> per example [B] (Miyato & Koyama 2018); call from a compact method.

  The embedding lives in the calling module's parameters as "projection/embedding"
  (and its spectral state under "projection_sn" when spectrally normalised).
  """
  embed = nn.Embed(num_classes, features.shape[-1], embedding_init=layers.glorot_uniform,
                   dtype=dtype, param_dtype=jnp.float32, name="projection")
  rows = layers.maybe_spectral_norm(embed, labels, spectral_norm=spectral_norm,
                                    update_stats=update_stats)
  return jnp.sum(rows.astype(features.dtype) * features, axis=-1)


def critic_output(score, features, labels, *, conditional: str, num_classes: int,
                  spectral_norm: bool, update_stats: bool, acgan_init=None,
                  dtype: Any = None):
  """A critic's return value from its unconditional score [B] and features [B, F].

  "none": score; "projection": score + <embed(y), phi(x)>; "acgan": (score, logits
  [B, K] of a K-way linear on phi(x), kernel init `acgan_init`, default lecun_normal),
  the labels unused (the AC-GAN critic is not told them).
  """
  if conditional == "projection":
    if labels is None:
      raise ValueError("a projection critic needs labels [B]")
    return score + projection(features, labels, num_classes, spectral_norm=spectral_norm,
                              update_stats=update_stats, dtype=dtype).astype(score.dtype)
  if conditional == "acgan":
    head = nn.Dense(num_classes, kernel_init=acgan_init or nn.initializers.lecun_normal(),
                    dtype=dtype, param_dtype=jnp.float32, name="acgan")
    return score, layers.at_least_float32(layers.maybe_spectral_norm(
        head, features, spectral_norm=spectral_norm, update_stats=update_stats))
  if labels is not None:
    raise ValueError("labels were given to an unconditional critic (model.conditional='none')")
  return score
