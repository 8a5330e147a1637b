"""DCGAN-style convolutional generator and critic for square images.

Shapes follow the WGAN-GP authors' DCGAN (gan_cifar.py / gan_mnist.py): the
generator projects z to an s0 x s0 map, doubles the resolution per block while
halving channels, and its last block outputs the image channels through tanh.
The critic mirrors it with stride-2 convolutions and LeakyReLU(0.2), and has no
BatchNorm: batch statistics make an example's score depend on the rest of the
batch, which breaks the per-example gradient penalty (WGAN-GP §4). LayerNorm is
available instead (the paper's suggested replacement).

Sizes: image_size = s0 * 2**n with s0 in {4, 7} and n >= 1 (8, 14, 16, 28, 32,
56, 64, 112, 128, ...), which covers 8x8 digits, 28x28 MNIST and 32/64 colour.

Upsampling (generator), `upsample`:
  "conv_transpose"  4x4 transposed convolution, stride 2 (DCGAN, the seeds),
                    computed as four 2x2 stride-1 convolutions, one per output
                    pixel phase, then depth_to_space (SubPixelConvTranspose): the
                    same function and parameters as nn.ConvTranspose, with no
                    lhs-dilated convolution, whose backward pass is slow on
                    XLA:CPU (benchmarks/results/step_throughput.md, pmap-era rows
                    2.upsample vs 2.upsample_impl).
  "depth_to_space"  3x3 convolution to 4x the channels, then a 2x2 pixel shuffle.
                    Same output size and comparable capacity.

Class-conditional (jaxgan/models/conditional.py): with `num_classes` > 0 every
generator BatchNorm is a class-conditional one (per-class scale and offset); the
critic's flattened last conv features are phi(x) for the projection or AC-GAN
head (`conditional`). Unconditional models keep their parameter trees.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import conditional as conditional_lib
from jaxgan.models import layers

UPSAMPLE_METHODS = ("conv_transpose", "depth_to_space")
CRITIC_NORMS = ("none", "layer")
_BASE_SIZES = (4, 7)


def num_blocks(image_size: int) -> int | None:
  """Number of x2 blocks from the base map to `image_size`, or None if unbuildable."""
  for base in _BASE_SIZES:
    n, size = 0, image_size
    while size % 2 == 0 and size > base:
      size //= 2
      n += 1
    if size == base and n >= 1:
      return n
  return None


def supported_sizes(limit: int = 128) -> list[int]:
  return sorted(s for s in range(2, limit + 1) if num_blocks(s) is not None)


class SubPixelConvTranspose(nn.Module):
  """nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME"), exactly,
  as four 2x2 stride-1 convolutions (one per output pixel phase) + depth_to_space.

  Output pixel (2i+p, 2j+q) only meets the kernel taps W[p::2, q::2], applied to
  the input window starting at (i+p-1, j+q-1); so each phase is a 2x2 VALID conv
  of the 1-padded input, with no lhs dilation in the forward or backward pass.
  Same parameters as nn.ConvTranspose (kernel [4, 4, Cin, Cout], bias [Cout]).
  """

  features: int
  dtype: Any = None  # compute dtype; parameters float32

  @nn.compact
  def __call__(self, x):
    if self.dtype is not None:
      x = x.astype(self.dtype)
    _, h, w, cin = x.shape
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (4, 4, cin, self.features), jnp.float32).astype(x.dtype)
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    phases = [
        jax.lax.conv_general_dilated(
            xp[:, p:p + h + 1, q:q + w + 1, :], kernel[p::2, q::2], (1, 1), "VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"))
        for p in (0, 1) for q in (0, 1)]
    return layers.depth_to_space(jnp.concatenate(phases, axis=-1)) + bias.astype(x.dtype)


class Upsample(nn.Module):
  """x2 upsampling block: `method` is one of UPSAMPLE_METHODS (validated config)."""

  features: int
  method: str
  dtype: Any = None

  @nn.compact
  def __call__(self, x):
    if self.method == "conv_transpose":
      return SubPixelConvTranspose(self.features, dtype=self.dtype, name="ConvTranspose_0")(x)
    return layers.depth_to_space(nn.Conv(self.features * 4, (3, 3), padding="SAME",
                                  dtype=self.dtype, param_dtype=jnp.float32)(x))


class DCGANGenerator(nn.Module):
  """z[B, z_dim] -> images[B, S, S, C] in [-1, 1]."""

  image_size: int
  channels: int
  width: int
  upsample: str
  batch_norm: bool
  bn_momentum: float
  bn_epsilon: float = 1e-5
  dtype: Any = None  # compute dtype (bfloat16: mixed precision); parameters float32
  num_classes: int = 0  # > 0: class-conditional BatchNorm (needs batch_norm)
  bn_running_var: str = "unbiased"  # layers.BN_RUNNING_VARS: what the running variance averages

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    conditional_lib.check_generator_labels(self.num_classes, labels)
    if self.num_classes and not self.batch_norm:
      raise ValueError("a class-conditional DCGAN generator needs batch_norm=True: the "
                       "labels enter through its conditional BatchNorm")
    n = num_blocks(self.image_size)
    base = self.image_size // 2**n

    def norm_relu(h):
      if self.num_classes:
        h = conditional_lib.ConditionalBatchNorm(
            self.num_classes, use_running_average=not train, momentum=self.bn_momentum,
            epsilon=self.bn_epsilon, dtype=self.dtype,
            running_var=self.bn_running_var)(h, labels)
      elif self.batch_norm:
        # Statistics over the global batch: the step is one computation over it.
        h = layers.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                             epsilon=self.bn_epsilon, dtype=self.dtype,
                             param_dtype=jnp.float32, running_var=self.bn_running_var)(h)
      return nn.relu(h)

    features = self.width * 2 ** (n - 1)
    h = nn.Dense(base * base * features, dtype=self.dtype, param_dtype=jnp.float32)(z)
    h = norm_relu(h.reshape(z.shape[0], base, base, features))
    for _ in range(n - 1):
      features //= 2
      h = norm_relu(Upsample(features, self.upsample, self.dtype)(h))
    # The last block goes straight to the image channels, as in DCGAN / WGAN-GP.
    out = jnp.tanh(Upsample(self.channels, self.upsample, self.dtype)(h))
    return layers.at_least_float32(out)


class DCGANCritic(nn.Module):
  """images[B, S, S, C] (and labels[B] for projection) -> scores[B] ((scores, logits[B, K])
  for acgan).

  With `spectral_norm` every conv and the output linear are spectrally
  normalised (jaxgan/models/layers.py); `update_stats` then advances the power
  iteration (apply with mutable=["spectral"]).
  """

  image_size: int
  width: int
  norm: str
  spectral_norm: bool = False
  dtype: Any = None  # compute dtype (bfloat16: mixed precision); parameters float32
  conditional: str = "none"  # conditional_lib.CONDITIONALS
  num_classes: int = 0

  @nn.compact
  def __call__(self, x, labels=None, update_stats: bool = False):
    n = num_blocks(self.image_size)
    h = x
    for i in range(n):
      conv = nn.Conv(self.width * 2**i, (4, 4), strides=(2, 2), padding="SAME",
                     dtype=self.dtype, param_dtype=jnp.float32, name=f"Conv_{i}")
      h = layers.maybe_spectral_norm(conv, h, spectral_norm=self.spectral_norm,
                                     update_stats=update_stats)
      if self.norm == "layer" and i > 0:
        # Per-example normalisation over (H, W, C): keeps examples independent.
        h = nn.LayerNorm(reduction_axes=(-3, -2, -1), feature_axes=(-3, -2, -1),
                         dtype=self.dtype, param_dtype=jnp.float32)(h)
      h = nn.leaky_relu(h, 0.2)
    out = nn.Dense(1, dtype=self.dtype, param_dtype=jnp.float32, name="Dense_0")
    features = h.reshape(h.shape[0], -1)
    h = layers.maybe_spectral_norm(out, features, spectral_norm=self.spectral_norm,
                                   update_stats=update_stats)
    return conditional_lib.critic_output(
        layers.at_least_float32(h[:, 0]), features, labels, conditional=self.conditional, num_classes=self.num_classes,
        spectral_norm=self.spectral_norm, update_stats=update_stats, dtype=self.dtype)
