"""CIFAR-10 ResNets: the WGAN-GP authors' and SNGAN's generator and critic.

Both are read from their authors' code, block by block:

  WGAN-GP  igul222/improved_wgan_training gan_cifar_resnet.py (unconditional):
           width 128 for both networks; critic mean-pools globally, no
           normalisation (NORMALIZATION_D=False; layer norm optional).
  SNGAN    pfnet-research/sngan_projection gen_models/resnet_32.py and
           dis_models/snresnet_32.py: generator width 256, critic width 128 with
           spectral norm on every layer, global *sum* pooling, no output bias.

The two share every block; they differ only in constructor arguments:

  WGAN-GP  ResNetGenerator(width=128, bn_momentum, bn_epsilon=1e-5)
           ResNetCritic(width=128)                       norm="none" or "layer"
  SNGAN    ResNetGenerator(width=256, bn_momentum=0.9, bn_epsilon=2e-5)
           ResNetCritic(width=128, spectral_norm=True, pooling="sum",
                        output_bias=False)

Generator: z -> Dense(4*4*width) -> [B, 4, 4, width] -> 3 x ResidualBlock("up")
-> BatchNorm -> ReLU -> 3x3 conv to 3 channels -> tanh. An "up" block is
BN, ReLU, nearest 2x upsample, 3x3 conv, BN, ReLU, 3x3 conv, plus a shortcut of
upsample then 1x1 conv. The Dense output is read channel-major ([B, C, 4, 4] in
the authors' NCHW, then moved to NHWC), so the Dense kernel's layout is theirs.

Critic: OptimizedBlock (3x3 conv, ReLU, 3x3 conv, 2x2 mean pool; shortcut mean
pool then 1x1 conv) -> ResidualBlock("down") (ReLU, 3x3 conv, ReLU, 3x3 conv,
mean pool; shortcut 1x1 conv then mean pool) -> 2 x ResidualBlock(None)
(identity shortcut) -> ReLU -> global mean (or sum) over H, W -> Dense(1). With
norm="layer", layer norm (statistics over H, W, C of one example, a scale and an
offset per channel, as the authors' tflib Layernorm) sits before each ReLU of
the three residual blocks, where the authors' Normalize calls are. No batch
statistics in the critic: the per-example gradient penalty needs examples to be
independent.

Parameter counts at the widths above (tests/test_resnet.py derives them from the
layer shapes): WGAN-GP generator 1,204,483 and critic 1,053,825, as the authors'
own count; SNGAN generator 4,276,739 and critic 1,053,824 (no output bias).

BatchNorm is layers.BatchNorm: train=False uses the running averages (momentum
`bn_momentum`; the variance averages the unbiased batch estimate, as Chainer,
PyTorch and TF's fused batch norm do), as SNGAN's Chainer code does in test
mode. The WGAN-GP authors never use running averages: they normalise with the
batch's statistics even when sampling, which jaxgan/sample.py does for the
WGAN-GP ResNet recipe (model.sample_bn_stats="batch").

Deviation from the authors' code, on purpose: the initialisation is theirs
(layers.he_uniform_avg / glorot_uniform, zero biases, unit BN scales), but drawn
from JAX keys, not numpy's global RNG.

Class-conditional (jaxgan/models/conditional.py): with `num_classes` > 0 the
generator's residual blocks normalise with class-conditional BatchNorm (both
BatchNorms of each block, as gan_cifar_resnet.py's Normalize with labels and
SNGAN's resblocks.py; the output BatchNorm stays unconditional in both); the
critic's pooled features are phi(x) for the projection head (snresnet_32.py: SNEmbedID(K, width)) or the AC-GAN head
(gan_cifar_resnet.py: Linear(width, 10) "ACGANOutput", Glorot-initialised like
its other linears). The authors' conditional AC-WGAN-GP (K = 10, width 128) has
generator 1,218,307 and critic 1,055,115 parameters (tests/test_resnet.py counts
them from their layer shapes).

Mixed precision: `dtype` is the compute dtype, jnp.bfloat16 for mixed precision;
parameters, BatchNorm/LayerNorm statistics and spectral norm's power iteration
stay float32, and both networks return float32 (images, scores). The default,
None, computes in the dtype of the parameters and inputs: float32 in training,
and float64 when a check casts both to float64 (a fixed jnp.float32 would
silently round such a check to float32).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import conditional as conditional_lib
from jaxgan.models import layers

RESAMPLES = ("up", "down", None)
CRITIC_NORMS = ("none", "layer")
POOLINGS = ("mean", "sum")
BASE_SIZE = 4     # the generator's first feature map is 4x4
NUM_UP_BLOCKS = 3  # 4 -> 32: CIFAR-10
IMAGE_SHAPE = (BASE_SIZE * 2**NUM_UP_BLOCKS,) * 2 + (3,)  # what the generator draws


def _check_choice(name, value, allowed):
  if value not in allowed:
    raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(map(repr, allowed))}")


class ResidualBlock(nn.Module):
  """The authors' ResidualBlock: norm, ReLU, conv1, norm, ReLU, conv2, + shortcut.

  resample "up": conv1 is upsample-then-conv (in -> out), conv2 out -> out,
  shortcut upsample then 1x1 conv. "down": conv1 in -> in, conv2 is
  conv-then-mean-pool (in -> out), shortcut 1x1 conv then mean pool. None:
  conv1 in -> out, conv2 out -> out, identity shortcut when in == out.
  """

  features: int
  resample: str | None                          # RESAMPLES
  norm: Callable[..., nn.Module] | None = None  # e.g. partial(nn.BatchNorm, ...); None: none
  spectral_norm: bool = False
  dtype: Any = None  # compute dtype; None: the parameters' and inputs'

  @nn.compact
  def __call__(self, x, labels=None, update_stats: bool = False):
    """`labels` [B]: the block's norms are class-conditional ones (norm(h, labels))."""
    _check_choice("resample", self.resample, RESAMPLES)
    conv = functools.partial(_conv, dtype=self.dtype, spectral_norm=self.spectral_norm,
                             update_stats=update_stats)
    in_features = x.shape[-1]
    up = layers.upsample_nearest if self.resample == "up" else (lambda h: h)
    down = layers.mean_pool if self.resample == "down" else (lambda h: h)
    def normalize(h, name):
      if self.norm is None:
        return h
      return self.norm(name=name)(h) if labels is None else self.norm(name=name)(h, labels)

    if self.resample is None and in_features == self.features:
      shortcut = x
    else:
      shortcut = down(conv(up(x), self.features, 1, layers.glorot_uniform, "shortcut"))

    h = nn.relu(normalize(x, "norm1"))
    mid = in_features if self.resample == "down" else self.features
    h = conv(up(h), mid, 3, layers.he_uniform_avg, "conv1")
    h = nn.relu(normalize(h, "norm2"))
    h = down(conv(h, self.features, 3, layers.he_uniform_avg, "conv2"))
    return shortcut + h


class OptimizedBlock(nn.Module):
  """The critic's first block (no norm, no leading ReLU): conv, ReLU, conv, mean
  pool; shortcut mean pool then 1x1 conv (the authors' OptimizedResBlockDisc1)."""

  features: int
  spectral_norm: bool = False
  dtype: Any = None  # compute dtype; None: the parameters' and inputs'

  @nn.compact
  def __call__(self, x, update_stats: bool = False):
    conv = functools.partial(_conv, dtype=self.dtype, spectral_norm=self.spectral_norm,
                             update_stats=update_stats)
    shortcut = conv(layers.mean_pool(x), self.features, 1, layers.glorot_uniform, "shortcut")
    h = nn.relu(conv(x, self.features, 3, layers.he_uniform_avg, "conv1"))
    h = layers.mean_pool(conv(h, self.features, 3, layers.he_uniform_avg, "conv2"))
    return shortcut + h


def _conv(x, features, size, init, name, *, dtype, spectral_norm, update_stats):
  """A SAME-padded conv with a bias (every conv of both papers has one)."""
  layer = nn.Conv(features, (size, size), padding="SAME", kernel_init=init, dtype=dtype,
                  param_dtype=jnp.float32, name=name)
  return layers.maybe_spectral_norm(layer, x, spectral_norm=spectral_norm,
                                    update_stats=update_stats)


class ResNetGenerator(nn.Module):
  """z[B, z_dim] -> images[B, 32, 32, 3] in [-1, 1], float32 (or float64, see above)."""

  width: int
  bn_momentum: float  # flax convention: running = momentum * running + (1 - momentum) * batch
  bn_epsilon: float
  dtype: Any = None  # compute dtype (jnp.bfloat16: mixed precision); parameters float32
  num_classes: int = 0  # > 0: class-conditional BatchNorm in the residual blocks
  bn_running_var: str = "unbiased"  # layers.BN_RUNNING_VARS: what the running variance averages

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    conditional_lib.check_generator_labels(self.num_classes, labels)
    norm = functools.partial(layers.BatchNorm, use_running_average=not train,
                             momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                             dtype=self.dtype, param_dtype=jnp.float32,
                             running_var=self.bn_running_var)
    block_norm = norm
    if self.num_classes:
      block_norm = functools.partial(
          conditional_lib.ConditionalBatchNorm, self.num_classes, use_running_average=not train,
          momentum=self.bn_momentum, epsilon=self.bn_epsilon, dtype=self.dtype,
          running_var=self.bn_running_var)
    h = nn.Dense(BASE_SIZE * BASE_SIZE * self.width, kernel_init=layers.glorot_uniform,
                 dtype=self.dtype, param_dtype=jnp.float32, name="input")(z)
    # Channel-major, as the authors' reshape to NCHW [B, C, 4, 4].
    h = h.reshape(z.shape[0], self.width, BASE_SIZE, BASE_SIZE).transpose(0, 2, 3, 1)
    for i in range(NUM_UP_BLOCKS):
      h = ResidualBlock(self.width, "up", norm=block_norm, dtype=self.dtype,
                        name=f"block{i + 1}")(h, labels)
    h = nn.relu(norm(name="output_norm")(h))
    h = nn.Conv(3, (3, 3), padding="SAME", kernel_init=layers.glorot_uniform,
                dtype=self.dtype, param_dtype=jnp.float32, name="output")(h)
    return layers.at_least_float32(jnp.tanh(h))


class ResNetCritic(nn.Module):
  """images[B, H, W, C] -> scores[B]; H and W multiples of 4 (CIFAR: 32).

  Conditional: labels[B] for "projection"; "acgan" returns (scores, logits[B, K]).

  Scores are float32 for a float32 or bfloat16 critic (float64 in float64 checks).

  `update_stats` matters only with spectral_norm: True advances the power
  iteration (apply with mutable=[layers.SPECTRAL]); see jaxgan/models/layers.py
  for which calls of a training update should pass it.
  """

  width: int
  norm: str = "none"          # CRITIC_NORMS; the authors' NORMALIZATION_D (off by default)
  spectral_norm: bool = False  # on every conv and the output linear (SNGAN)
  pooling: str = "mean"       # POOLINGS: global mean (WGAN-GP) or sum (SNGAN)
  output_bias: bool = True    # SNGAN's output linear has none
  dtype: Any = None           # compute dtype (jnp.bfloat16: mixed precision)
  conditional: str = "none"   # conditional_lib.CONDITIONALS
  num_classes: int = 0

  @nn.compact
  def __call__(self, x, labels=None, update_stats: bool = False):
    _check_choice("critic norm", self.norm, CRITIC_NORMS)
    _check_choice("critic pooling", self.pooling, POOLINGS)
    if x.ndim != 4 or x.shape[1] % 4 or x.shape[2] % 4:
      raise ValueError(f"ResNetCritic needs images [B, H, W, C] with H and W multiples of "
                       f"4 (two 2x2 mean pools), got shape {tuple(x.shape)}")
    norm = None
    if self.norm == "layer":
      # One example's statistics over (H, W, C); a scale and offset per channel.
      norm = functools.partial(nn.LayerNorm, reduction_axes=(-3, -2, -1), feature_axes=-1,
                               epsilon=1e-5, dtype=self.dtype, param_dtype=jnp.float32)
    block = functools.partial(ResidualBlock, self.width, norm=norm,
                              spectral_norm=self.spectral_norm, dtype=self.dtype)
    h = OptimizedBlock(self.width, spectral_norm=self.spectral_norm, dtype=self.dtype,
                       name="block1")(x, update_stats=update_stats)
    h = block("down", name="block2")(h, update_stats=update_stats)
    h = block(None, name="block3")(h, update_stats=update_stats)
    h = block(None, name="block4")(h, update_stats=update_stats)
    h = nn.relu(h)
    h = jnp.mean(h, axis=(1, 2)) if self.pooling == "mean" else jnp.sum(h, axis=(1, 2))
    out = nn.Dense(1, use_bias=self.output_bias, kernel_init=layers.glorot_uniform,
                   dtype=self.dtype, param_dtype=jnp.float32, name="output")
    features = h
    h = layers.maybe_spectral_norm(out, features, spectral_norm=self.spectral_norm,
                                   update_stats=update_stats)
    return conditional_lib.critic_output(
        layers.at_least_float32(h[:, 0]), features, labels, conditional=self.conditional,
        num_classes=self.num_classes, spectral_norm=self.spectral_norm,
        update_stats=update_stats, acgan_init=layers.glorot_uniform, dtype=self.dtype)
