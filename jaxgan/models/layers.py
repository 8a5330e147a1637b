"""Layers shared by the models: spectral normalisation, BatchNorm, resampling, inits.

Spectral normalisation (Miyato et al. 2018) divides a layer's kernel W, viewed as
a matrix [fan_in, features], by an estimate of its largest singular value:

    v = normalize(W u),  u' = normalize(W^T v),  sigma = v^T W u'   (u, v in
    stop_gradient), W_sn = W / sigma

one power iteration per call from the stored vector u, which is kept between
steps in the "spectral" collection (`SPECTRAL`). This is flax.linen.SpectralNorm
(n_steps=1), used as is: its power iteration, its stop-gradient on u and v and
its sigma are the paper's Algorithm 1 and the authors' Chainer code
(sngan_projection source/functions/max_sv.py); its collection name is
configurable; its parameters stay the wrapped layer's own (the kernel is
normalised on the way in), so a critic's parameter tree and count are the same
with and without spectral norm. Its `update_stats` flag decides only whether the
new u (and sigma, kept for logging) are written back:

  update_stats=True   training: apply with mutable=[SPECTRAL]; returns the new u.
  update_stats=False  evaluation, and every other critic call of a training
                      update: the same iteration from the stored u, nothing written.

Because the iteration is a pure function of the stored u and the kernel, every
call that starts from the same stored u computes the same sigma. A critic update
can therefore call the critic on reals (update_stats=True, collecting the new u),
on fakes and inside the gradient penalty's closure with the *same* incoming u and
update_stats=False: all three see one normalised critic and the update advances u
by exactly one power iteration, as in Algorithm 1 (model.spectral_norm_iteration
"per_update"). The SNGAN authors' Chainer code (SNConvolution2D.W_bar writes u
whenever chainer.config.train) and torch.nn.utils.spectral_norm instead advance u
at every training-mode forward call; jaxgan/train.py does that with "per_call",
chaining each call's new u into the next. Either way the penalty's inner jax.grad
over x differentiates a side-effect-free closure. In evaluation Chainer runs one
iteration from the stored u without writing it, as here; PyTorch uses its stored
u and v as they are.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

SPECTRAL = "spectral"  # the variable collection holding spectral norm's u (and sigma)

# The WGAN-GP authors' tflib initialisers (tflib/ops/conv2d.py, linear.py), both
# uniform with a fan-average variance: "he_init" 4 / (fan_in + fan_out) for the
# residual 3x3 convs, Glorot 2 / (fan_in + fan_out) for shortcuts, output conv and
# linears. SNGAN's Chainer code draws the same: GlorotUniform(sqrt(2)) and
# GlorotUniform().
he_uniform_avg = nn.initializers.variance_scaling(2.0, "fan_avg", "uniform")
glorot_uniform = nn.initializers.variance_scaling(1.0, "fan_avg", "uniform")


def at_least_float32(x):
  """bfloat16 (mixed precision) outputs -> float32; float32 and float64 unchanged."""
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def maybe_spectral_norm(layer: nn.Module, x, *, spectral_norm: bool, update_stats: bool):
  """`layer(x)`, with the layer's kernel spectrally normalised if `spectral_norm`.

  Call from a compact method with a named `layer`; the wrapper's u lives in the
  SPECTRAL collection under "<layer name>_sn/<layer name>/kernel/u".
  """
  if not spectral_norm:
    return layer(x)
  return nn.SpectralNorm(layer, n_steps=1, collection_name=SPECTRAL,
                         name=f"{layer.name}_sn")(x, update_stats=update_stats)


# The batch variance BatchNorm's running average takes (model.bn_running_var):
#   unbiased  m/(m-1) x the batch variance, m = the values per channel (examples x
#             height x width): PyTorch's BatchNorm (torch.nn.functional.batch_norm),
#             Chainer's BatchNormalization (the SNGAN authors') and TF's fused batch
#             norm (tf.nn.fused_batch_norm, the WGAN-GP authors' tflib batchnorm.py).
#   biased    the batch variance itself, as flax.linen.BatchNorm averages it (jaxgan's
#             runs made before this choice existed).
BN_RUNNING_VARS = ("unbiased", "biased")


class BatchNorm(nn.BatchNorm):
  """flax.linen.BatchNorm whose running variance averages the `running_var` estimate.

  Training normalises with the biased batch variance either way (as PyTorch,
  Chainer and TF do); only what the running average takes differs, so only
  train=False outputs (sampling with running statistics, evaluation) do. Same
  variables, names and outputs as nn.BatchNorm (a run's parameter tree is
  unchanged), and the unbiased average is in float32 whatever the compute dtype.
  """

  running_var: str = "unbiased"  # BN_RUNNING_VARS

  @nn.compact
  def __call__(self, x):  # pylint: disable=arguments-differ
    if self.running_var not in BN_RUNNING_VARS:
      raise ValueError(f"unknown BatchNorm running_var {self.running_var!r}; allowed: "
                       f"{', '.join(BN_RUNNING_VARS)}")
    if (self.use_running_average or self.running_var == "biased"
        or self.is_initializing()):
      return super().__call__(x)
    previous = self.get_variable("batch_stats", "var")
    out = super().__call__(x)
    axes = tuple(range(x.ndim - 1))  # every axis but the features (axis=-1)
    m = math.prod(x.shape[a] for a in axes)
    unbiased = jnp.var(at_least_float32(x), axis=axes) * (m / max(m - 1, 1))
    # The dtype follows the computation, as nn.BatchNorm's own update (float32 in
    # training; float64 when a check runs in float64).
    self.put_variable("batch_stats", "var",
                      self.momentum * previous + (1.0 - self.momentum) * unbiased)
    return out


def depth_to_space(x, block: int = 2):
  """[B, H, W, C*b*b] -> [B, H*b, W*b, C] (pixel shuffle)."""
  b, h, w, c = x.shape
  c_out = c // (block * block)
  x = x.reshape(b, h, w, block, block, c_out)
  x = x.transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h * block, w * block, c_out)


def upsample_nearest(x):
  """[B, H, W, C] -> [B, 2H, 2W, C], every pixel repeated 2x2.

  The WGAN-GP authors' UpsampleConv form: four copies along channels, then
  depth_to_space (Chainer's unpooling_2d in SNGAN gives the same values).
  """
  return depth_to_space(jnp.concatenate([x, x, x, x], axis=-1))


def mean_pool(x):
  """2x2 mean pooling, stride 2: [B, H, W, C] -> [B, H/2, W/2, C]."""
  return (x[:, ::2, ::2] + x[:, 1::2, ::2] + x[:, ::2, 1::2] + x[:, 1::2, 1::2]) / 4
