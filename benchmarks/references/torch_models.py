"""PyTorch twins of jaxgan's CIFAR-10 ResNets (jaxgan/models/resnet.py).

Written the way the authors' models are: NCHW, nn.Conv2d(3x3, padding=1) and
1x1 shortcuts, nn.BatchNorm2d in the generator, 2x2 average pooling,
nearest-neighbour upsampling (the WGAN-GP authors' depth_to_space of four
copies; Chainer's unpooling_2d in SNGAN), and torch.nn.utils.spectral_norm for
SN. Same layers, same shapes, same parameter counts as the Flax models:

  wgan_gp_resnet   gan_cifar_resnet.py: generator and critic width 128, critic
                   global mean pool, optional layer norm (nn.GroupNorm(1, C): one
                   example's statistics over C, H, W with a per-channel scale and
                   offset, as the authors' tflib Layernorm), optional SN.
  sngan_resnet     sngan_projection resnet_32.py / snresnet_32.py: generator
                   width 256, critic width 128 with SN on every layer, global sum
                   pool, no output bias.

Initialisation is the authors' (Xavier-uniform with gain sqrt(2) on the residual
3x3 convs, gain 1 on shortcuts, the generator's output conv and the linears;
zero biases). torch.nn.utils.spectral_norm runs one power iteration at every
training-mode forward call (so a critic update that scores reals, fakes and
penalty points advances u three times, where jaxgan advances it once); in eval
mode it uses the stored u and v without iterating.

`python benchmarks/references/torch_models.py` checks the twins against the Flax models:
equal parameter counts, and, with the Flax parameters (and spectral u vectors)
copied in, equal outputs in float32.
"""

from __future__ import annotations

import math
import sys

import torch
from torch import nn
import torch.nn.functional as F

Z_DIM = 128  # both papers' latent size


def _init(module, gain):
  nn.init.xavier_uniform_(module.weight, gain)
  if module.bias is not None:
    nn.init.zeros_(module.bias)
  return module


def _conv(c_in, c_out, size, gain, spectral_norm):
  conv = _init(nn.Conv2d(c_in, c_out, size, padding=size // 2), gain)
  return nn.utils.spectral_norm(conv) if spectral_norm else conv


class ResidualBlock(nn.Module):
  """norm, ReLU, conv1, norm, ReLU, conv2 (+ resampling), plus a shortcut."""

  def __init__(self, c_in, c_out, resample, norm=None, spectral_norm=False):
    super().__init__()
    self.resample = resample
    mid = c_in if resample == "down" else c_out
    self.norm1 = norm(c_in) if norm else nn.Identity()
    self.conv1 = _conv(c_in, mid, 3, math.sqrt(2), spectral_norm)
    self.norm2 = norm(mid) if norm else nn.Identity()
    self.conv2 = _conv(mid, c_out, 3, math.sqrt(2), spectral_norm)
    self.shortcut = None
    if resample is not None or c_in != c_out:
      self.shortcut = _conv(c_in, c_out, 1, 1.0, spectral_norm)

  def _up(self, x):
    return F.interpolate(x, scale_factor=2, mode="nearest") if self.resample == "up" else x

  def _down(self, x):
    return F.avg_pool2d(x, 2) if self.resample == "down" else x

  def forward(self, x):
    shortcut = x if self.shortcut is None else self._down(self.shortcut(self._up(x)))
    h = self.conv1(self._up(F.relu(self.norm1(x))))
    h = self._down(self.conv2(F.relu(self.norm2(h))))
    return shortcut + h


class OptimizedBlock(nn.Module):
  """The critic's first block: conv, ReLU, conv, pool; shortcut pool then 1x1 conv."""

  def __init__(self, c_in, c_out, spectral_norm=False):
    super().__init__()
    self.conv1 = _conv(c_in, c_out, 3, math.sqrt(2), spectral_norm)
    self.conv2 = _conv(c_out, c_out, 3, math.sqrt(2), spectral_norm)
    self.shortcut = _conv(c_in, c_out, 1, 1.0, spectral_norm)

  def forward(self, x):
    return (self.shortcut(F.avg_pool2d(x, 2))
            + F.avg_pool2d(self.conv2(F.relu(self.conv1(x))), 2))


class ResNetGenerator(nn.Module):
  """z[B, 128] -> images[B, 3, 32, 32] in [-1, 1]."""

  def __init__(self, width, bn_momentum, bn_eps, z_dim=Z_DIM):
    super().__init__()
    self.width = width

    def norm(c):
      return nn.BatchNorm2d(c, eps=bn_eps, momentum=bn_momentum)  # torch momentum = 1 - flax's

    self.input = _init(nn.Linear(z_dim, 16 * width), 1.0)
    self.block1 = ResidualBlock(width, width, "up", norm)
    self.block2 = ResidualBlock(width, width, "up", norm)
    self.block3 = ResidualBlock(width, width, "up", norm)
    self.output_norm = norm(width)
    self.output = _init(nn.Conv2d(width, 3, 3, padding=1), 1.0)

  def forward(self, z):
    h = self.input(z).view(z.shape[0], self.width, 4, 4)
    h = self.block3(self.block2(self.block1(h)))
    return torch.tanh(self.output(F.relu(self.output_norm(h))))


class ResNetCritic(nn.Module):
  """images[B, 3, H, W] -> scores[B]."""

  def __init__(self, width, norm="none", spectral_norm=False, pooling="mean",
               output_bias=True, channels=3):
    super().__init__()
    layer_norm = (lambda c: nn.GroupNorm(1, c, eps=1e-5)) if norm == "layer" else None
    self.pooling = pooling
    self.block1 = OptimizedBlock(channels, width, spectral_norm)
    self.block2 = ResidualBlock(width, width, "down", layer_norm, spectral_norm)
    self.block3 = ResidualBlock(width, width, None, layer_norm, spectral_norm)
    self.block4 = ResidualBlock(width, width, None, layer_norm, spectral_norm)
    self.output = _init(nn.Linear(width, 1, bias=output_bias), 1.0)
    if spectral_norm:
      self.output = nn.utils.spectral_norm(self.output)

  def forward(self, x):
    h = F.relu(self.block4(self.block3(self.block2(self.block1(x)))))
    h = h.mean(dim=(2, 3)) if self.pooling == "mean" else h.sum(dim=(2, 3))
    return self.output(h).view(-1)


def wgan_gp_resnet(width=128, bn_momentum=0.1, critic_norm="none", spectral_norm=False):
  """(generator, critic) of gan_cifar_resnet.py (TF fused BatchNorm: eps 1e-5)."""
  return (ResNetGenerator(width, bn_momentum, 1e-5),
          ResNetCritic(width, norm=critic_norm, spectral_norm=spectral_norm))


def sngan_resnet(g_width=256, d_width=128):
  """(generator, critic) of SNGAN's CIFAR-10 ResNet (Chainer BN: decay 0.9, eps 2e-5)."""
  return (ResNetGenerator(g_width, 0.1, 2e-5),
          ResNetCritic(d_width, spectral_norm=True, pooling="sum", output_bias=False))


def count_parameters(module):
  """Trainable parameters (spectral norm's u and v are buffers, not counted)."""
  return sum(p.numel() for p in module.parameters())


# --- Checks against the Flax models ----------------------------------------------------


def load_flax_variables(module, variables):
  """Copies Flax params (NHWC/HWIO layouts) and spectral u vectors into `module`."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  import jax  # pylint: disable=import-outside-toplevel

  named = dict(module.named_parameters())
  named.update(dict(module.named_buffers()))
  with torch.no_grad():
    for path, value in jax.tree_util.tree_flatten_with_path(variables["params"])[0]:
      keys = [k.key for k in path]
      prefix, leaf = ".".join(keys[:-1]), keys[-1]
      value = np.array(value)
      if leaf == "kernel":
        value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
        name = f"{prefix}.weight_orig" if f"{prefix}.weight_orig" in named else f"{prefix}.weight"
      elif leaf == "scale":
        name = f"{prefix}.weight"
      else:
        name = f"{prefix}.bias"
      target = named[name]
      assert tuple(target.shape) == value.shape, (name, target.shape, value.shape)
      target.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    for path, value in jax.tree_util.tree_flatten_with_path(variables.get("spectral", {}))[0]:
      keys = [k.key for k in path]
      if not keys[-1].endswith("/u"):
        continue
      layer = keys[-1].split("/")[0]
      named[".".join(keys[:-2] + [layer, "weight_u"])].copy_(
          torch.from_numpy(np.array(value)[0]))


def check(width=16, batch=4):
  """Twin vs Flax: parameter counts at the papers' widths, outputs at `width`.

  Returns a list of (name, flax count, torch count, max |output difference|).
  """
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from jaxgan.models import resnet  # pylint: disable=import-outside-toplevel

  def flax_count(module, x, **kw):
    shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), x, **kw))
    return sum(math.prod(s.shape) for s in jax.tree.leaves(shapes["params"]))

  z = jnp.zeros((2, Z_DIM))
  image = jnp.zeros((2, 32, 32, 3))
  cases = [
      ("wgan_gp generator", resnet.ResNetGenerator(width=128, bn_momentum=0.9, bn_epsilon=1e-5),
       wgan_gp_resnet()[0], z),
      ("wgan_gp critic", resnet.ResNetCritic(width=128), wgan_gp_resnet()[1], image),
      ("wgan_gp critic, layer norm", resnet.ResNetCritic(width=128, norm="layer"),
       wgan_gp_resnet(critic_norm="layer")[1], image),
      ("wgan_gp critic, spectral norm", resnet.ResNetCritic(width=128, spectral_norm=True),
       wgan_gp_resnet(spectral_norm=True)[1], image),
      ("sngan generator", resnet.ResNetGenerator(width=256, bn_momentum=0.9, bn_epsilon=2e-5),
       sngan_resnet()[0], z),
      ("sngan critic", resnet.ResNetCritic(width=128, spectral_norm=True, pooling="sum",
                                           output_bias=False), sngan_resnet()[1], image),
  ]
  rng = np.random.default_rng(0)
  rows = []
  for name, flax_module, torch_module, x in cases:
    kw = {"train": False} if x.ndim == 2 else {}
    counts = flax_count(flax_module, x, **kw), count_parameters(torch_module)
    # Outputs at a small width, with the Flax parameters copied in.
    small_flax = flax_module.clone(width=width)
    is_generator = x.ndim == 2
    if is_generator:
      small_torch = ResNetGenerator(width, 1 - flax_module.bn_momentum, flax_module.bn_epsilon)
      inputs = rng.normal(size=(batch, Z_DIM)).astype(np.float32)
    else:
      small_torch = ResNetCritic(width, norm=flax_module.norm,
                                 spectral_norm=flax_module.spectral_norm,
                                 pooling=flax_module.pooling,
                                 output_bias=flax_module.output_bias)
      inputs = np.tanh(rng.normal(size=(batch, 32, 32, 3))).astype(np.float32)
    variables = small_flax.init(jax.random.key(1), jnp.asarray(inputs), **kw)
    # Perturb every parameter so zero biases and unit scales do not hide a mix-up.
    variables = {**variables, "params": jax.tree.map(
        lambda p: p + 0.05 * jnp.asarray(rng.normal(size=p.shape), p.dtype),
        variables["params"])}
    load_flax_variables(small_torch, variables)
    small_torch.train()  # batch statistics; spectral norm: one power iteration from u
    with torch.no_grad():
      if is_generator:
        flax_out, _ = small_flax.apply(variables, jnp.asarray(inputs), train=True,
                                       mutable=["batch_stats"])
        torch_out = small_torch(torch.from_numpy(inputs)).permute(0, 2, 3, 1).numpy()
      else:
        flax_out = small_flax.apply(variables, jnp.asarray(inputs))
        torch_out = small_torch(torch.from_numpy(inputs).permute(0, 3, 1, 2)).numpy()
    rows.append((name, counts[0], counts[1],
                 float(np.abs(np.asarray(flax_out) - torch_out).max())))
  return rows


def main() -> int:
  torch.manual_seed(0)
  ok = True
  print(f"{'model':34s} {'flax params':>12s} {'torch params':>12s} {'max |diff|':>11s}")
  for name, flax_count, torch_count, diff in check():
    # Outputs are O(1) (tanh images) or O(10) (sum-pooled scores); float32 round-off.
    good = flax_count == torch_count and diff < 1e-3
    ok &= good
    print(f"{name:34s} {flax_count:12,d} {torch_count:12,d} {diff:11.2e}  "
          f"{'ok' if good else 'MISMATCH'}")
  return 0 if ok else 1


if __name__ == "__main__":
  sys.exit(main())
