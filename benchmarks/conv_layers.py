"""Every convolution of a benchmark model, one at a time: XLA beside PyTorch, in one run.

    python benchmarks/conv_layers.py [--only 2,6] [--repeats 9] [--out DIR]

Where step_throughput.py says how fast a whole train step is, this says which
convolution kernels make the difference. For each selected training case of
step_throughput.py (2: the DCGAN32 of cases 2 and 4; 6: WGAN-GP's CIFAR-10 ResNet;
7: SNGAN) it traces the recipe's generator and critic (jax.make_jaxpr of their
training-mode apply, so the shapes are the recipe's own, batch included) and times every
distinct convolution three ways, each jitted alone with jaxgan's XLA:CPU flags:

  forward          the convolution;
  input gradient   its transpose with respect to the input, given the cotangent
                   (what every backward pass, and a penalty's inner jax.grad, runs);
  weight gradient  its transpose with respect to the kernel.

PyTorch's twin of each is the call its autograd makes (torch.nn.functional.conv2d,
aten.convolution_backward with one output mask), on NCHW tensors of the same sizes,
in the same process (on CUDA with cudnn.benchmark when PyTorch sees a GPU, as
jaxgan then runs on it). Each is timed in repeats of back-to-back calls (as the calls
of a train step run), calibrated and alternated as step_throughput.py times its rows;
a row's time is the median repeat's time per call. `uses` counts how often the convolution occurs in the
network; the totals add forward, input and weight gradient of every use (a proxy for
the convolution time of one update). Output: JSON rows on stdout and
<out>/conv_layers.{json,md}.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import runs
from jaxgan import train
import run_meta
import step_throughput

KINDS = ("forward", "input_grad", "weight_grad")
CASES = ("2", "6", "7")
PAUSE_S = 0.05


def model_convolutions(config):
  """{(network, key): (params, lhs shape, rhs shape, uses)} of the run's networks."""
  run = runs.setup(config, devices=jax.devices()[:1])
  spec, state = run.spec, run.runs.member_state(run.init_state(), 0)
  real = jnp.asarray(step_throughput.real_batch(run)[0])  # one critic update's batch
  z = jnp.zeros((spec.generator_batch_size or real.shape[0], spec.z_dim), jnp.float32)
  labels = (jnp.zeros((z.shape[0],), jnp.int32) if spec.num_classes else None)

  def generator(params):
    return train.generate(spec, params, state.generator_batch_stats, z, train=True,
                          labels=labels)[0]

  def critic(params):
    return train.critic_scores(spec, params, state.critic_spectral, real,
                               labels if spec.conditional == "projection" else None)

  found = collections.OrderedDict()
  for network, fn, params in (("generator", generator, state.generator_params),
                              ("critic", critic, state.critic_params)):
    for eqn in _conv_eqns(jax.make_jaxpr(fn)(params).jaxpr):
      lhs, rhs = (v.aval for v in eqn.invars)
      key = (network, str(lhs.shape), str(rhs.shape), str(sorted(eqn.params.items())))
      if key in found:
        found[key][3] += 1
      else:
        found[key] = [eqn.params, lhs.shape, rhs.shape, 1]
  return found


def _conv_eqns(jaxpr):
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "conv_general_dilated":
      yield eqn
    for value in eqn.params.values():  # the bodies of pjit, custom_vjp, ...
      for v in value if isinstance(value, (list, tuple)) else [value]:
        sub = getattr(v, "jaxpr", v)
        if hasattr(sub, "eqns"):
          yield from _conv_eqns(sub)


def jax_calls(params, lhs_shape, rhs_shape):
  """The three jitted calls of one convolution, with their arguments."""
  conv_params = {k: v for k, v in params.items()
                 if k not in ("lhs_shape", "rhs_shape")}

  def conv(x, w):
    return jax.lax.conv_general_dilated_p.bind(x, w, **conv_params)

  x = jax.random.normal(jax.random.PRNGKey(0), lhs_shape, jnp.float32)
  w = jax.random.normal(jax.random.PRNGKey(1), rhs_shape, jnp.float32) * 0.05
  y = jax.eval_shape(conv, x, w)
  g = jax.random.normal(jax.random.PRNGKey(2), y.shape, jnp.float32)
  fwd = jax.jit(conv)
  # The transposes need only the other operand: the primal point is zeros made inside
  # the trace (a captured array would be baked into the program as a constant).
  dx = jax.jit(lambda w, g: jax.vjp(lambda x_: conv(x_, w), jnp.zeros(lhs_shape))[1](g)[0])
  dw = jax.jit(lambda x, g: jax.vjp(lambda w_: conv(x, w_), jnp.zeros(rhs_shape))[1](g)[0])
  return {"forward": (fwd, (x, w)), "input_grad": (dx, (w, g)),
          "weight_grad": (dw, (x, g))}, y.shape


def torch_device():
  """CUDA when PyTorch sees a GPU (cudnn.benchmark on, as PyTorch users run), else CPU."""
  import torch  # pylint: disable=g-import-not-at-top
  if torch.cuda.is_available():
    torch.backends.cudnn.benchmark = True
    return torch.device("cuda")
  return torch.device("cpu")


def _torch_sync():
  import torch  # pylint: disable=g-import-not-at-top
  if torch.cuda.is_available():
    torch.cuda.synchronize()


def torch_calls(params, lhs_shape, rhs_shape, out_shape):
  """PyTorch's twins (NCHW / OIHW), or None where the convolution has no conv2d twin."""
  import torch  # pylint: disable=g-import-not-at-top
  dn = params["dimension_numbers"]
  if (tuple(dn.lhs_spec), tuple(dn.rhs_spec), tuple(dn.out_spec)) != (
      (0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2)):  # NHWC, HWIO, NHWC
    return None
  if any(d != 1 for d in params["lhs_dilation"]):
    return None
  (pt, pb), (pl, pr) = params["padding"]
  groups = params["feature_group_count"]
  stride, dilation = list(params["window_strides"]), list(params["rhs_dilation"])
  b, h, w_, c = lhs_shape
  kh, kw, ci, co = rhs_shape
  symmetric = pt == pb and pl == pr
  device = torch_device()
  x = torch.randn(b, c, h + (0 if symmetric else pt + pb), w_ + (0 if symmetric else pl + pr),
                  device=device)
  weight = torch.randn(co, ci, kh, kw, device=device) * 0.05
  padding = [pt, pl] if symmetric else [0, 0]
  g = torch.randn(out_shape[0], out_shape[3], out_shape[1], out_shape[2], device=device)

  def fwd():
    with torch.no_grad():
      torch.nn.functional.conv2d(x, weight, None, stride, padding, dilation, groups)

  def backward(mask):
    def call():
      torch.ops.aten.convolution_backward(g, x, weight, None, stride, padding, dilation,
                                          False, [0, 0], groups, mask)
    return call

  return {"forward": fwd, "input_grad": backward([True, False, False]),
          "weight_grad": backward([False, True, False])}


class _Calls:
  """One kernel as a step_throughput.time_group member: `run(calls)` times `calls`
  back-to-back calls (as in a train step) after a pause, because PyTorch's OpenMP
  workers spin for a while after its calls and would take the cores from the XLA
  calls that follow."""

  def __init__(self, fn, sync=lambda: None):
    self.fn, self.sync = fn, sync

  def run(self, calls):
    time.sleep(PAUSE_S)
    start = time.perf_counter()
    for _ in range(calls):
      self.fn()
    self.sync()  # a GPU twin's calls are asynchronous
    return time.perf_counter() - start


def time_pair(jax_fn, jax_args, torch_fn, repeats):
  """Median ms per call of the JAX call and its twin, timed round-robin as
  step_throughput times its members."""
  members = {"jax": _Calls(lambda: jax.block_until_ready(jax_fn(*jax_args)))}
  if torch_fn:
    members["torch"] = _Calls(torch_fn, _torch_sync)
  times, _ = step_throughput.time_group(members, repeats)
  ms = {name: 1000 * statistics.median(t) for name, t in times.items()}
  return ms["jax"], ms.get("torch")


def describe(params, lhs_shape, rhs_shape, out_shape):
  kh, kw, ci, co = rhs_shape
  s = "x".join(str(v) for v in params["window_strides"])
  groups = params["feature_group_count"]
  return (f"{lhs_shape[1]}x{lhs_shape[2]}, {ci * groups} -> {co}, {kh}x{kw}"
          + (f" stride {s}" if s != "1x1" else "")
          + (f" groups {groups}" if groups != 1 else "")
          + f" -> {out_shape[1]}x{out_shape[2]}")


def rows_for(case, repeats):
  name, recipe, variant = step_throughput.TRAIN_CASES[case]
  config = step_throughput.make_config(recipe, variant)
  rows = []
  for (network, *_), (params, lhs_shape, rhs_shape, uses) in model_convolutions(config).items():
    calls, out_shape = jax_calls(params, lhs_shape, rhs_shape)
    twins = torch_calls(params, lhs_shape, rhs_shape, out_shape)
    row = {"case": f"{case} {name}", "network": network, "batch": lhs_shape[0],
           "conv": describe(params, lhs_shape, rhs_shape, out_shape), "uses": uses}
    kh, kw, ci, co = rhs_shape
    row["gflop"] = round(2 * np.prod(out_shape) * kh * kw * ci / 1e9, 3)
    for kind in KINDS:
      fn, args = calls[kind]
      ms_jax, ms_torch = time_pair(fn, args, twins and twins[kind], repeats)
      row[f"{kind}_ms"] = round(ms_jax, 3)
      row[f"{kind}_torch_ms"] = ms_torch and round(ms_torch, 3)
      row[f"{kind}_jax_over_torch"] = ms_torch and round(ms_torch / ms_jax, 3)
    print(json.dumps(row), flush=True)
    rows.append(row)
  return rows


def table(rows):
  lines = ["| case | network | convolution (batch) | uses | GFLOP | forward ms XLA / PyTorch | "
           "input grad ms XLA / PyTorch | weight grad ms XLA / PyTorch | XLA speed over "
           "PyTorch fwd / dx / dw |", "|" + "---|" * 9]

  def pair(r, kind):
    t = r[f"{kind}_torch_ms"]
    return f"{r[f'{kind}_ms']:.2f} / " + (f"{t:.2f}" if t is not None else "-")

  for r in rows:
    ratios = " / ".join(f"{r[f'{k}_jax_over_torch']:.2f}" if r[f"{k}_jax_over_torch"] else "-"
                        for k in KINDS)
    lines.append(f"| {r['case']} | {r['network']} | {r['conv']} ({r['batch']}) | {r['uses']} | "
                 f"{r['gflop']} | {pair(r, 'forward')} | {pair(r, 'input_grad')} | "
                 f"{pair(r, 'weight_grad')} | {ratios} |")
  return "\n".join(lines)


def totals(rows):
  """Per case and network: every convolution's forward + input grad + weight grad, once
  per use, XLA against PyTorch (a proxy for the convolution time of one update)."""
  sums = collections.OrderedDict()
  for r in rows:
    if r["forward_torch_ms"] is None:
      continue
    s = sums.setdefault((r["case"], r["network"]), [0.0, 0.0])
    for kind in KINDS:
      s[0] += r["uses"] * r[f"{kind}_ms"]
      s[1] += r["uses"] * r[f"{kind}_torch_ms"]
  return [{"case": c, "network": n, "xla_ms": round(x, 2), "torch_ms": round(t, 2),
           "xla_speed_over_torch": round(t / x, 3)} for (c, n), (x, t) in sums.items()]


def totals_table(sums):
  lines = ["| case | network | sum of fwd + dx + dw over its convolutions, ms: XLA | "
           "PyTorch | XLA speed over PyTorch |", "|---|---|---|---|---|"]
  lines += [f"| {s['case']} | {s['network']} | {s['xla_ms']:.1f} | {s['torch_ms']:.1f} | "
            f"{s['xla_speed_over_torch']:.2f} |" for s in sums]
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", default=",".join(CASES),
                      help=f"step_throughput cases with convolutions: {', '.join(CASES)}")
  parser.add_argument("--repeats", type=int, default=9, help="timed calls per kernel")
  parser.add_argument("--resnet-width", type=int, default=0,
                      help="as step_throughput.py: shrink the ResNets for a smoke run")
  parser.add_argument("--out", default=os.path.join(HERE, "results"))
  args = parser.parse_args()
  cases = [c for c in args.only.split(",") if c]
  bad = [c for c in cases if c not in CASES]
  if bad:
    raise SystemExit(f"--only {','.join(bad)}: the cases with convolutions are {', '.join(CASES)}")
  step_throughput.RESNET_WIDTH[0] = args.resnet_width
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(len(os.sched_getaffinity(0)))
  t_start, load_start = time.time(), os.getloadavg()
  rows = [r for c in cases for r in rows_for(c, args.repeats)]
  device = torch_device()
  meta = step_throughput.run_info(args, t_start, load_start, {
      "torch": torch.__version__,
      "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu"})
  meta["torch_threads"] = torch.get_num_threads()
  sums = totals(rows)
  md = ("# Convolutions one at a time, XLA beside PyTorch (benchmarks/conv_layers.py)\n\n"
        + totals_table(sums) + "\n\n" + table(rows) + "\n\n## Run\n\n```json\n" + json.dumps(meta, indent=1) + "\n```\n")
  run_meta.write(args.out, "conv_layers", {"meta": meta, "totals": sums, "rows": rows}, md)


if __name__ == "__main__":
  main()
