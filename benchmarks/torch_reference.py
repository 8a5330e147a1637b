"""PyTorch reference steps, written the way the seed implementations are.

Eager PyTorch, `torch.autograd.grad(..., create_graph=True)` for the gradient
penalty, Adam; the same architectures, batch sizes, n_critic and loss/penalty
maths as jaxgan's recipes (init schemes aside: PyTorch's defaults). Used only by
benchmarks/step_throughput.py to put a number beside jaxgan's compiled step.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MLPGenerator(nn.Module):
  def __init__(self, z_dim, hidden, out_shape, tanh):
    super().__init__()
    layers, width = [], z_dim
    for h in hidden:
      layers += [nn.Linear(width, h), nn.ReLU()]
      width = h
    layers.append(nn.Linear(width, math.prod(out_shape)))
    self.net = nn.Sequential(*layers)
    self.out_shape, self.tanh = tuple(out_shape), tanh

  def forward(self, z):
    x = self.net(z)
    x = torch.tanh(x) if self.tanh else x
    return x.view(z.shape[0], *self.out_shape)


class MLPCritic(nn.Module):
  def __init__(self, in_dim, hidden):
    super().__init__()
    layers, width = [], in_dim
    for h in hidden:
      layers += [nn.Linear(width, h), nn.ReLU()]
      width = h
    layers.append(nn.Linear(width, 1))
    self.net = nn.Sequential(*layers)

  def forward(self, x):
    return self.net(x.flatten(1))[:, 0]


def _upsample(cin, cout, method):
  if method == "conv_transpose":
    return nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)
  return nn.Sequential(nn.Conv2d(cin, cout * 4, 3, padding=1), nn.PixelShuffle(2))


class DCGANGenerator(nn.Module):
  """Mirrors jaxgan.models.dcgan.DCGANGenerator (NCHW)."""

  def __init__(self, z_dim, image_size, channels, width, blocks, upsample):
    super().__init__()
    self.base = image_size // 2**blocks
    features = width * 2 ** (blocks - 1)
    self.fc = nn.Linear(z_dim, self.base * self.base * features)
    self.bn0 = nn.BatchNorm1d(self.base * self.base * features)
    self.features = features
    layers = []
    for _ in range(blocks - 1):
      layers += [_upsample(features, features // 2, upsample), nn.BatchNorm2d(features // 2),
                 nn.ReLU()]
      features //= 2
    layers.append(_upsample(features, channels, upsample))
    self.net = nn.Sequential(*layers)

  def forward(self, z):
    h = torch.relu(self.bn0(self.fc(z)))
    h = h.view(z.shape[0], self.features, self.base, self.base)
    return torch.tanh(self.net(h))


class DCGANCritic(nn.Module):
  def __init__(self, image_size, channels, width, blocks):
    super().__init__()
    layers, cin = [], channels
    for i in range(blocks):
      layers += [nn.Conv2d(cin, width * 2**i, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
      cin = width * 2**i
    self.net = nn.Sequential(*layers)
    side = image_size // 2**blocks
    self.fc = nn.Linear(cin * side * side, 1)

  def forward(self, x):
    return self.fc(self.net(x).flatten(1))[:, 0]


def gradient_penalty(critic, points, target=1.0):
  """The seeds' penalty: autograd.grad with create_graph=True (double backward)."""
  points = points.detach().requires_grad_(True)
  scores = critic(points)
  grads, = torch.autograd.grad(scores.sum(), points, create_graph=True)
  norms = torch.sqrt(grads.flatten(1).pow(2).sum(1) + 1e-12)
  return ((norms - target) ** 2).mean()


class Step:
  """One generator iteration: n_critic critic updates, then one generator update."""

  def __init__(self, generator, critic, *, z_dim, n_critic, penalty, weight, loss,
               lr=1e-4, betas=(0.5, 0.9)):
    self.g, self.d = generator, critic
    self.z_dim, self.n_critic = z_dim, n_critic
    self.penalty, self.weight, self.loss = penalty, weight, loss
    self.opt_g = torch.optim.Adam(self.g.parameters(), lr=lr, betas=betas)
    self.opt_d = torch.optim.Adam(self.d.parameters(), lr=lr, betas=betas)

  def _points(self, real, fake):
    b = real.shape[0]
    shape = (b,) + (1,) * (real.dim() - 1)
    if self.penalty == "wgan_gp":
      eps = torch.rand(shape)
      return eps * real + (1 - eps) * fake
    perturbed = real + 0.5 * real.std() * torch.rand_like(real)  # DRAGAN authors' code
    alpha = torch.rand(shape)
    return real + alpha * (perturbed - real)

  def critic_update(self, real, with_penalty=True):
    z = torch.randn(real.shape[0], self.z_dim)
    with torch.no_grad():
      fake = self.g(z)
    d_real, d_fake = self.d(real), self.d(fake)
    if self.loss == "wasserstein":
      loss = d_fake.mean() - d_real.mean()
    else:  # non-saturating
      loss = nn.functional.softplus(-d_real).mean() + nn.functional.softplus(d_fake).mean()
    if with_penalty and self.penalty != "none":
      loss = loss + self.weight * gradient_penalty(self.d, self._points(real, fake))
    self.opt_d.zero_grad(set_to_none=True)
    loss.backward()
    self.opt_d.step()

  def __call__(self, real):
    for i in range(self.n_critic):
      self.critic_update(real[i])
    z = torch.randn(real.shape[1], self.z_dim)
    d_fake = self.d(self.g(z))
    if self.loss == "wasserstein":
      loss = -d_fake.mean()
    else:
      loss = nn.functional.softplus(-d_fake).mean()
    self.opt_g.zero_grad(set_to_none=True)
    loss.backward()
    self.opt_g.step()
