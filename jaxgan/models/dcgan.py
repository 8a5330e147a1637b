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

Upsampling (generator):
  "conv_transpose"  4x4 transposed convolution, stride 2 (DCGAN, the seeds).
  "depth_to_space"  3x3 convolution to 4x the channels, then a 2x2 pixel shuffle.
                    Same output size and comparable capacity; its backward pass
                    is ~3x faster on XLA:CPU (DESIGN.md measurement).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

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


def depth_to_space(x, block: int = 2):
  """[B, H, W, C*b*b] -> [B, H*b, W*b, C] (pixel shuffle)."""
  b, h, w, c = x.shape
  c_out = c // (block * block)
  x = x.reshape(b, h, w, block, block, c_out)
  x = x.transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h * block, w * block, c_out)


class Upsample(nn.Module):
  features: int
  method: str

  @nn.compact
  def __call__(self, x):
    if self.method == "conv_transpose":
      return nn.ConvTranspose(self.features, (4, 4), strides=(2, 2), padding="SAME")(x)
    if self.method == "depth_to_space":
      return depth_to_space(nn.Conv(self.features * 4, (3, 3), padding="SAME")(x))
    raise ValueError(
        f"unknown model.upsample {self.method!r}; allowed: {', '.join(UPSAMPLE_METHODS)}")


class DCGANGenerator(nn.Module):
  """z[B, z_dim] -> images[B, S, S, C] in [-1, 1]."""

  image_size: int
  channels: int
  width: int
  upsample: str
  batch_norm: bool
  bn_momentum: float
  bn_axis_name: str | None = None  # "data" under pmap: statistics over all devices

  @nn.compact
  def __call__(self, z, train: bool = True):
    n = num_blocks(self.image_size)
    base = self.image_size // 2**n

    def norm_relu(h):
      if self.batch_norm:
        h = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                         epsilon=1e-5, axis_name=self.bn_axis_name if train else None)(h)
      return nn.relu(h)

    features = self.width * 2 ** (n - 1)
    h = nn.Dense(base * base * features)(z)
    h = norm_relu(h.reshape(z.shape[0], base, base, features))
    for _ in range(n - 1):
      features //= 2
      h = norm_relu(Upsample(features, self.upsample)(h))
    # The last block goes straight to the image channels, as in DCGAN / WGAN-GP.
    return jnp.tanh(Upsample(self.channels, self.upsample)(h))


class DCGANCritic(nn.Module):
  """images[B, S, S, C] -> scores[B]."""

  image_size: int
  width: int
  norm: str

  @nn.compact
  def __call__(self, x):
    n = num_blocks(self.image_size)
    h = x
    for i in range(n):
      h = nn.Conv(self.width * 2**i, (4, 4), strides=(2, 2), padding="SAME")(h)
      if self.norm == "layer" and i > 0:
        # Per-example normalisation over (H, W, C): keeps examples independent.
        h = nn.LayerNorm(reduction_axes=(-3, -2, -1), feature_axes=(-3, -2, -1))(h)
      h = nn.leaky_relu(h, 0.2)
    return nn.Dense(1)(h.reshape(h.shape[0], -1))[:, 0]
