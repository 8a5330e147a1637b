"""PyTorch twins of jaxgan's models and GAN steps: benchmarks/step_throughput.py's worker.

    python benchmarks/references/torch_reference.py [--flush-denormal] [--threads N]

The steps are written the way the seeds are (the WGAN-GP authors' PyTorch ports, e.g.
caogang/wgan-gp gan_toy.py / gan_cifar10.py, and the DRAGAN authors' code): eager
mode, the penalty through `torch.autograd.grad(..., create_graph=True)`, Adam,
`fake = netG(z)` under `torch.no_grad()` for the critic updates (generator in train
mode, so its BatchNorm statistics move, as jaxgan's do), and the critic's
parameters frozen (`requires_grad_(False)`) during the generator update.

The models mirror jaxgan/models/{mlp,dcgan,resnet}.py layer by layer, in NCHW
(jaxgan: NHWC). MLP and DCGAN keep PyTorch's default init; DCGAN upsamples by
ConvTranspose2d(4, stride 2, pad 1) ("conv_transpose") or Conv2d(3, pad 1) to 4C +
PixelShuffle(2) ("depth_to_space"), its critic's LayerNorm (critic_norm="layer")
normalises C, H, W of blocks > 0. The ResNets are written as the authors' ("resnet":
gan_cifar_resnet.py, width 128, global mean pool, optional layer norm as
nn.GroupNorm(1, C) like tflib's Layernorm, optional SN; "sngan": sngan_projection
resnet_32.py / snresnet_32.py, generator width 256, SN on every critic layer, global
sum pool, no output bias): 3x3 convs and 1x1 shortcuts, nearest-neighbour
upsampling, 2x2 average pooling, the authors' init (Xavier-uniform, gain sqrt(2) on
the residual 3x3 convs, 1 elsewhere; zero biases) and torch.nn.utils.spectral_norm
(one power iteration at every training-mode forward call, as the SNGAN authors'
Chainer code; jaxgan advances u once per update).

The loss and penalty maths are jaxgan's: Wasserstein, non-saturating (softplus) or
hinge losses; the gradient norm over every non-batch axis with 1e-12 inside the sqrt;
WGAN-GP interpolates with one U[0,1] per example; DRAGAN "std_uniform" (x + 0.5 std(x)
U[0,1], then a random per-example interpolate) or "gaussian" (x + sqrt(c) N(0, I)).
The generator update draws `generator_batch_size` latents (0 = the critic's batch),
and `dequantization` d adds U[0, d) to the real batch of every critic update, as
gan_cifar_resnet.py.

Threads: torch.set_num_threads(2), PyTorch's default on this 2-core machine;
`--threads N` for the benchmark's `--threads` runs. Denormals: by default PyTorch
computes with denormal floats, as the seeds do; XLA:CPU always flushes them to zero.
`--flush-denormal` gives a worker XLA's behaviour (torch.set_flush_denormal(True)
before any thread exists, so every OpenMP thread inherits it); the benchmark reports
that twin alongside. In the toy WGAN-GP, denormals appear in the critic's Adam first
moments within the first tens of generator iterations (gradients of dead ReLU units
decaying by beta1 = 0.5 per update).

The worker reads one JSON command per line on stdin and answers one JSON line on
stdout (build / run / drop / matmul / info / quit), so the PyTorch side runs in its
own process (its OpenMP pool never competes with XLA's threads) yet in the same run,
alternating repeat by repeat with the JAX side. The benchmark asserts that every
twin has the jaxgan model's parameter counts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F

NUM_THREADS = 2
# The twin runs where PyTorch would train: a GPU when it sees one (cuDNN picking
# its fastest kernels per shape, as a tuned PyTorch run does), else the CPU.
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.backends.cudnn.benchmark = True
_BASE_SIZES = (4, 7)


def num_blocks(image_size: int) -> int:
  """x2 blocks from the 4x4 or 7x7 base map to `image_size` (jaxgan.models.dcgan)."""
  for base in _BASE_SIZES:
    n, size = 0, image_size
    while size % 2 == 0 and size > base:
      size //= 2
      n += 1
    if size == base and n >= 1:
      return n
  raise ValueError(f"DCGAN cannot build {image_size}x{image_size} images")


def mlp(sizes, tanh_output=False):
  """Linear layers from sizes[0] to sizes[-1] with ReLU between them (tanh after)."""
  layers = []
  for a, b in zip(sizes, sizes[1:]):
    layers += [nn.Linear(a, b), nn.ReLU()]
  return nn.Sequential(*layers[:-1], *([nn.Tanh()] if tanh_output else []))


def _upsample(c_in, c_out, method):
  if method == "conv_transpose":
    return nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
  if method == "depth_to_space":
    return nn.Sequential(nn.Conv2d(c_in, 4 * c_out, 3, padding=1), nn.PixelShuffle(2))
  raise ValueError(f"unknown upsample {method!r}")


class DCGANGenerator(nn.Module):

  def __init__(self, z_dim, image_size, channels, width, upsample, batch_norm, bn_momentum):
    super().__init__()
    n = num_blocks(image_size)
    self.base = image_size // 2**n
    self.features = width * 2 ** (n - 1)

    def norm(c):
      # PyTorch momentum = 1 - flax momentum.
      return nn.BatchNorm2d(c, eps=1e-5, momentum=bn_momentum) if batch_norm else nn.Identity()

    self.fc = nn.Linear(z_dim, self.base * self.base * self.features)
    blocks = [norm(self.features), nn.ReLU()]
    c = self.features
    for _ in range(n - 1):
      blocks += [_upsample(c, c // 2, upsample), norm(c // 2), nn.ReLU()]
      c //= 2
    blocks += [_upsample(c, channels, upsample), nn.Tanh()]
    self.blocks = nn.Sequential(*blocks)

  def forward(self, z):
    h = self.fc(z).view(z.shape[0], self.features, self.base, self.base)
    return self.blocks(h)


class DCGANCritic(nn.Module):

  def __init__(self, image_size, channels, width, norm):
    super().__init__()
    n = num_blocks(image_size)
    layers, c, size = [], channels, image_size
    for i in range(n):
      c_out = width * 2**i
      size //= 2
      layers.append(nn.Conv2d(c, c_out, 4, stride=2, padding=1))
      if norm == "layer" and i > 0:
        layers.append(nn.LayerNorm([c_out, size, size]))
      layers.append(nn.LeakyReLU(0.2))
      c = c_out
    self.convs = nn.Sequential(*layers)
    self.fc = nn.Linear(c * size * size, 1)

  def forward(self, x):
    h = self.convs(x)
    return self.fc(h.reshape(h.shape[0], -1)).view(-1)


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

  def __init__(self, width, bn_momentum, bn_eps, z_dim):
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


def count_parameters(module):
  """Trainable parameters (spectral norm's u and v are buffers, not counted)."""
  return sum(p.numel() for p in module.parameters())


def critic_loss(name, d_real, d_fake):
  if name == "wasserstein":
    return d_fake.mean() - d_real.mean()
  if name == "non_saturating":
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
  if name == "hinge":
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
  raise ValueError(f"unknown loss {name!r}")


def generator_loss(name, d_fake):
  if name in ("wasserstein", "hinge"):
    return -d_fake.mean()
  if name == "non_saturating":
    return F.softplus(-d_fake).mean()
  raise ValueError(f"unknown loss {name!r}")


def _per_example(values, ndim):
  return values.view(values.shape + (1,) * (ndim - 1))


def penalty_points(pen, real, fake):
  """WGAN-GP interpolates or DRAGAN perturbed reals (jaxgan.penalties' maths)."""
  b = real.shape[0]
  if pen["name"] == "wgan_gp":
    alpha = _per_example(torch.rand(b, device=real.device), real.dim())
    return alpha * real + (1 - alpha) * fake
  if pen["perturbation"] == "gaussian":
    return real + math.sqrt(pen["noise_variance"]) * torch.randn_like(real)
  perturbed = real + pen["noise_scale"] * real.std(unbiased=False) * torch.rand_like(real)
  alpha = _per_example(torch.rand(b, device=real.device), real.dim())
  return real + alpha * (perturbed - real)


def gradient_penalty(critic, x, target, one_sided):
  """E[(||grad_x D(x)|| - k)^2] through autograd.grad(create_graph=True), as the seeds."""
  x = x.detach().requires_grad_(True)
  scores = critic(x)
  grads, = torch.autograd.grad(outputs=scores, inputs=x,
                               grad_outputs=torch.ones_like(scores),
                               create_graph=True, retain_graph=True)
  norms = torch.sqrt(grads.reshape(grads.shape[0], -1).pow(2).sum(dim=1) + 1e-12)
  gap = norms - target
  if one_sided:
    gap = F.relu(gap)
  return gap.pow(2).mean()


class Reference:
  """Models, optimizers and one fixed real batch [n_critic, B, ...] held in memory."""

  def __init__(self, spec: dict, seed: int = 0):
    torch.manual_seed(seed)
    self.spec = spec
    shape = tuple(spec["data_shape"])  # one example's shape as jaxgan reports it (NHWC)
    if spec["arch"] == "mlp":
      size = math.prod(shape)
      self.G = nn.Sequential(mlp([spec["z_dim"], *spec["hidden"], size], len(shape) == 3),
                             nn.Unflatten(1, shape))
      self.D = nn.Sequential(nn.Flatten(), mlp([size, *spec["hidden"], 1]), nn.Flatten(0))
      example_shape = shape  # the MLPs flatten whatever layout they get
    elif spec["arch"] in ("resnet", "sngan"):
      sngan = spec["arch"] == "sngan"
      self.G = ResNetGenerator(
          spec["generator_width"] or spec["width"], 1.0 - spec["bn_momentum"],
          spec["bn_epsilon"], z_dim=spec["z_dim"])
      self.D = ResNetCritic(
          spec["width"], norm=spec["critic_norm"], spectral_norm=spec["spectral_norm"],
          pooling="sum" if sngan else "mean", output_bias=not sngan)
      example_shape = (3, 32, 32)  # NCHW
    else:
      size, _, channels = shape
      self.G = DCGANGenerator(spec["z_dim"], size, channels, spec["width"], spec["upsample"],
                              spec["generator_batch_norm"], 1.0 - spec["bn_momentum"])
      self.D = DCGANCritic(size, channels, spec["width"], spec["critic_norm"])
      example_shape = (channels, size, size)  # NCHW
    self.G.to(DEVICE).train()
    self.D.to(DEVICE).train()
    self.opt_d, self.sched_d = self._adam(self.D, spec["critic_opt"])
    self.opt_g, self.sched_g = self._adam(self.G, spec["generator_opt"])
    self.batch = spec["batch_size"]
    self.generator_batch = spec.get("generator_batch_size") or self.batch
    self.dequantization = spec.get("dequantization", 0.0)
    self.n_critic = spec["n_critic"]
    # One real batch per critic update, already in memory (as jaxgan's on device).
    self.real = torch.rand((self.n_critic, self.batch) + example_shape,
                           device=DEVICE) * 2 - 1

  @staticmethod
  def _adam(module, opt):
    """Adam and its learning-rate schedule: constant, or linear to 0 over
    opt["num_updates"] updates (optax.linear_schedule, as jaxgan's factory)."""
    adam = torch.optim.Adam(module.parameters(), lr=opt["learning_rate"],
                            betas=(opt["b1"], opt["b2"]), eps=opt["eps"])
    schedule = opt.get("schedule", "constant")
    if schedule == "constant":
      return adam, None
    if schedule == "linear":
      n = opt["num_updates"]
      return adam, torch.optim.lr_scheduler.LambdaLR(
          adam, lambda t: max(0.0, 1.0 - t / n))
    raise ValueError(f"unknown schedule {schedule!r}")

  def critic_step(self, real):
    spec, pen = self.spec, self.spec["penalty"]
    z = torch.randn(self.batch, spec["z_dim"], device=DEVICE)
    with torch.no_grad():
      fake = self.G(z)
    if self.dequantization:
      real = real + self.dequantization * torch.rand_like(real)
    self.opt_d.zero_grad(set_to_none=True)
    loss = critic_loss(spec["loss"], self.D(real), self.D(fake))
    if pen["name"] != "none":
      points = penalty_points(pen, real, fake)
      loss = loss + pen["weight"] * gradient_penalty(self.D, points, pen["target"],
                                                      pen["one_sided"])
    loss.backward()
    self.opt_d.step()
    if self.sched_d is not None:
      self.sched_d.step()
    return loss.detach()

  def generator_step(self):
    for p in self.D.parameters():
      p.requires_grad_(False)
    z = torch.randn(self.generator_batch, self.spec["z_dim"], device=DEVICE)
    self.opt_g.zero_grad(set_to_none=True)
    loss = generator_loss(self.spec["loss"], self.D(self.G(z)))
    loss.backward()
    self.opt_g.step()
    if self.sched_g is not None:
      self.sched_g.step()
    for p in self.D.parameters():
      p.requires_grad_(True)
    return loss.detach()

  def train_step(self):
    """n_critic critic updates, one per real batch, then one generator update."""
    for i in range(self.n_critic):
      self.critic_step(self.real[i])
    return self.generator_step()

  def run(self, mode: str, n: int) -> float:
    """Seconds for n generator iterations ("train"), n critic steps ("critic") or n
    generator updates alone ("generator")."""
    start = time.perf_counter()
    if mode == "train":
      for _ in range(n):
        loss = self.train_step()
    elif mode == "generator":
      for _ in range(n):
        loss = self.generator_step()
    else:
      for _ in range(n):
        loss = self.critic_step(self.real[0])
    loss.item()  # waits for a GPU; on the CPU eager mode has already run
    return time.perf_counter() - start


def matmul_gflops(n: int, repeats: int) -> float:
  """Median GFLOP/s of an n x n float32 torch.mm (informational)."""
  a, b = torch.randn(n, n, device=DEVICE), torch.randn(n, n, device=DEVICE)
  torch.mm(a, b).sum().item()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    torch.mm(a, b).sum().item()  # .item(): wait for a GPU
    times.append(time.perf_counter() - start)
  times.sort()
  return 2 * n**3 / times[len(times) // 2] / 1e9


def serve() -> None:
  """JSON-lines worker: build / run / matmul / quit (see the module docstring)."""
  out = sys.stdout
  sys.stdout = sys.stderr  # nothing but answers on the protocol stream
  refs: dict[str, Reference] = {}
  for line in sys.stdin:
    msg = json.loads(line)
    cmd = msg["cmd"]
    try:
      if cmd == "build":
        ref = refs[msg["key"]] = Reference(msg["spec"])
        answer = {"generator_params": count_parameters(ref.G),
                  "critic_params": count_parameters(ref.D)}
      elif cmd == "run":
        answer = {"seconds": refs[msg["key"]].run(msg["mode"], msg["n"])}
      elif cmd == "drop":
        refs.pop(msg["key"], None)
        answer = {"ok": True}
      elif cmd == "matmul":
        answer = {"gflops": matmul_gflops(msg["n"], msg["repeats"])}
      elif cmd == "info":
        answer = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                  "interop_threads": torch.get_num_interop_threads(),
                  "flush_denormal": _flushes_denormals(),
                  "device": (torch.cuda.get_device_name() if DEVICE.type == "cuda"
                             else "cpu")}
      elif cmd == "quit":
        out.write(json.dumps({"ok": True}) + "\n")
        out.flush()
        return
      else:
        answer = {"error": f"unknown command {cmd!r}"}
    except Exception as e:  # report to the parent instead of dying silently
      answer = {"error": f"{type(e).__name__}: {e}"}
    out.write(json.dumps(answer) + "\n")
    out.flush()


def _flushes_denormals() -> bool:
  tiny = torch.tensor([1e-38], dtype=torch.float32)
  return bool((tiny * 0.01).item() == 0.0)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--flush-denormal", action="store_true",
                      help="flush denormals to zero in every thread, as XLA:CPU does")
  parser.add_argument("--threads", type=int, default=NUM_THREADS,
                      help="intra-op threads (torch.set_num_threads)")
  args = parser.parse_args()
  if args.flush_denormal and not torch.set_flush_denormal(True):
    raise SystemExit("this CPU cannot flush denormals (no SSE3)")
  torch.set_num_threads(args.threads)
  serve()


if __name__ == "__main__":
  main()
