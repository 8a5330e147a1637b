"""Train-step throughput: jaxgan's compiled step beside a PyTorch reference, one run.

    pip install -e '.[bench]'          # adds the CPU build of torch
    python benchmarks/step_throughput.py [--repeats 3] [--quick]

Cases (DESIGN.md / issue 5):
  1 WGAN-GP toy MLP (2-512-512-512, batch 256, n_critic 5)
  2 WGAN-GP DCGAN 32x32x3, width 64, batch 64 (configs/wgan_gp.py:dataset=cifar10)
  3 the default digits recipe (configs/wgan_gp.py)
  4 DRAGAN on the case-2 architecture (configs/dragan.py:dataset=cifar10)
  5 the critic update alone, without penalty / double_backward / jvp, on 1 and 2
plus, on case 2, the rolled loop (critic_unroll=1), the transposed-conv generator
and the double_backward penalty, and on case 1 the jvp penalty, so each default
(jvp for conv critics, double_backward for MLPs, full unroll, depth_to_space) is
backed by a number here.

For every row: generator iterations/s (n_critic critic updates + 1 generator
update), critic updates/s, examples/s, compile time, XLA's FLOPs per call and the
achieved GFLOP/s as a fraction of a float32 matmul's GFLOP/s measured in this run
(the machine's practical peak), and jax/torch for rows with a PyTorch twin.
Warm-up excluded; median of --repeats timed runs. Prints JSON lines and a table;
writes both to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from configs import dragan, wgan_gp  # noqa: E402
from jaxgan import factory, train  # noqa: E402
from jaxgan.models import dcgan  # noqa: E402

RECIPES = {"wgan_gp": wgan_gp, "dragan": dragan}


def _config(recipe, variant, overrides=None):
  config = RECIPES[recipe].get_config(variant)
  for key, value in (overrides or {}).items():
    node = config
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


def _timed(fn, repeats, calls):
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    fn(calls)
    times.append((time.perf_counter() - t) / calls)
  return float(np.median(times))


def _flops(compiled):
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost.get("flops", float("nan"))) if cost else float("nan")


def matmul_peak(n=2048, repeats=5):
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(lambda x, y: x @ y)
  f(a, a).block_until_ready()
  sec = _timed(lambda k: [f(a, a).block_until_ready() for _ in range(k)], repeats, 5)
  return 2 * n**3 / sec / 1e9


def _real(config, shape):
  rng = np.random.default_rng(0)
  return np.tanh(rng.normal(size=(config.train.n_critic, config.train.batch_size) + shape)
                 ).astype(np.float32)


def jax_step(config, repeats, calls):
  """(seconds per generator iteration, compile s, flops per call) for the full step."""
  shape = factory.validate(config)
  spec = factory.make_step_spec(config, shape)
  state = train.init_state(spec, jax.random.PRNGKey(0), shape)
  real = jnp.asarray(_real(config, shape))  # kept on device, as the loop's prefetch would
  jitted = jax.jit(functools.partial(train.train_step, spec=spec), donate_argnums=0)
  t = time.perf_counter()
  compiled = jitted.lower(state, real).compile()
  compile_s = time.perf_counter() - t
  holder = {"state": state}

  def run(k):
    s = holder["state"]
    for _ in range(k):
      s, m = compiled(s, real)
    jax.block_until_ready(m)
    holder["state"] = s

  run(1)
  return _timed(run, repeats, calls), compile_s, _flops(compiled)


def jax_critic_update(config, repeats, calls):
  """(seconds per critic update, compile s, flops) for train.critic_update alone."""
  shape = factory.validate(config)
  spec = factory.make_step_spec(config, shape)
  state = train.init_state(spec, jax.random.PRNGKey(0), shape)
  real = jnp.asarray(_real(config, shape)[0])

  def update(state, real, key):
    params, opt_state, stats, metrics = train.critic_update(spec, state, real, key)
    return state.replace(critic_params=params, critic_opt_state=opt_state,
                         generator_batch_stats=stats), metrics

  key = jax.random.PRNGKey(1)
  t = time.perf_counter()
  compiled = jax.jit(update, donate_argnums=0).lower(state, real, key).compile()
  compile_s = time.perf_counter() - t
  holder = {"state": state}

  def run(k):
    s = holder["state"]
    for _ in range(k):
      s, m = compiled(s, real, key)
    jax.block_until_ready(m)
    holder["state"] = s

  run(1)
  return _timed(run, repeats, calls), compile_s, _flops(compiled)


def torch_step(config, repeats, calls, critic_only=False):
  """Seconds per generator iteration (or per critic update) of the PyTorch twin."""
  import torch
  import torch_reference as ref
  torch.manual_seed(0)
  shape = factory.validate(config)
  m = config.model
  if m.arch == "mlp":
    g = ref.MLPGenerator(m.z_dim, m.hidden, shape, tanh=len(shape) == 3)
    d = ref.MLPCritic(int(np.prod(shape)), m.hidden)
    real = torch.from_numpy(_real(config, shape))
  else:
    blocks = dcgan.num_blocks(shape[0])
    g = ref.DCGANGenerator(m.z_dim, shape[0], shape[2], m.width, blocks, m.upsample)
    d = ref.DCGANCritic(shape[0], shape[2], m.width, blocks)
    real = torch.from_numpy(_real(config, shape)).permute(0, 1, 4, 2, 3).contiguous()
  step = ref.Step(g, d, z_dim=m.z_dim, n_critic=config.train.n_critic,
                  penalty=config.penalty.name, weight=config.penalty.weight,
                  loss=config.loss.name, lr=config.optimizer.critic.learning_rate,
                  betas=(config.optimizer.critic.b1, config.optimizer.critic.b2))

  def run(k):
    for _ in range(k):
      if critic_only:
        step.critic_update(real[0], with_penalty=config.penalty.name != "none")
      else:
        step(real)

  run(1)
  return _timed(run, repeats, calls)


def _row(case, config, sec, compile_s, flops, peak, *, critic_only=False, torch_sec=None):
  n_critic = 1 if critic_only else config.train.n_critic
  it_s = 1.0 / sec
  row = {
      "case": case,
      "generator_it_per_s": None if critic_only else round(it_s, 3),
      "critic_steps_per_s": round(it_s * n_critic, 2),
      "examples_per_s": round(it_s * n_critic * config.train.batch_size, 1),
      "compile_s": round(compile_s, 2),
      "gflop_per_call": round(flops / 1e9, 3),
      "achieved_gflop_s": round(flops / sec / 1e9, 2),
      "fraction_of_matmul_peak": round(flops / sec / 1e9 / peak, 3),
  }
  if torch_sec is not None:
    row["torch_it_per_s" if not critic_only else "torch_critic_steps_per_s"] = round(
        1.0 / torch_sec, 3)
    row["jax_over_torch"] = round(torch_sec / sec, 2)
  print(json.dumps(row), flush=True)
  return row


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--quick", action="store_true", help="fewer calls per repeat")
  parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                    "step_throughput"))
  args = parser.parse_args()
  import torch
  torch.set_num_threads(os.cpu_count() or 1)  # PyTorch uses every core, as JAX does
  r = args.repeats
  fast, slow = (3, 1) if args.quick else (10, 3)
  peak = matmul_peak()
  print(json.dumps({"matmul_peak_gflop_s": round(peak, 1)}), flush=True)
  rows = []

  def full(case, recipe, variant, overrides=None, calls=fast, with_torch=True):
    config = _config(recipe, variant, overrides)
    sec, c, f = jax_step(config, r, calls)
    torch_sec = torch_step(config, r, max(calls // 2, 1)) if with_torch else None
    rows.append(_row(case, config, sec, c, f, peak, torch_sec=torch_sec))

  def critic(case, recipe, variant, overrides, calls, with_torch=True):
    config = _config(recipe, variant, overrides)
    sec, c, f = jax_critic_update(config, r, calls)
    torch_sec = torch_step(config, r, calls, critic_only=True) if with_torch else None
    rows.append(_row(case, config, sec, c, f, peak, critic_only=True, torch_sec=torch_sec))

  full("1 toy MLP WGAN-GP", "wgan_gp", "dataset=8gaussians")
  full("2 DCGAN32 WGAN-GP", "wgan_gp", "dataset=cifar10", calls=slow)
  full("3 default digits", "wgan_gp", None, calls=fast * 3)
  full("4 DCGAN32 DRAGAN", "dragan", "dataset=cifar10", calls=slow)
  full("2 + double_backward", "wgan_gp", "dataset=cifar10",
       {"penalty.method": "double_backward"}, calls=slow, with_torch=False)
  full("2 + rolled loop (unroll 1)", "wgan_gp", "dataset=cifar10",
       {"train.critic_unroll": 1}, calls=slow, with_torch=False)
  full("2 + conv_transpose", "wgan_gp", "dataset=cifar10",
       {"model.upsample": "conv_transpose"}, calls=slow)
  full("1 + jvp", "wgan_gp", "dataset=8gaussians", {"penalty.method": "jvp"},
       with_torch=False)
  for base, variant, calls in (("1", "dataset=8gaussians", fast * 3),
                               ("2", "dataset=cifar10", fast)):
    critic(f"5 critic only, {base}, no penalty", "wgan_gp", variant,
           {"penalty.name": "none"}, calls)
    critic(f"5 critic only, {base}, double_backward", "wgan_gp", variant,
           {"penalty.method": "double_backward"}, calls, with_torch=False)
    critic(f"5 critic only, {base}, jvp", "wgan_gp", variant, {"penalty.method": "jvp"},
           calls)

  meta = {"machine": platform.machine(), "cpus": os.cpu_count(), "jax": jax.__version__,
          "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
          "repeats": r, "matmul_peak_gflop_s": round(peak, 1),
          "load_average": os.getloadavg()}
  print(json.dumps(meta), flush=True)
  cols = ["case", "generator_it_per_s", "torch_it_per_s", "jax_over_torch",
          "critic_steps_per_s", "torch_critic_steps_per_s", "examples_per_s", "compile_s",
          "gflop_per_call", "achieved_gflop_s", "fraction_of_matmul_peak"]
  lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
  for row in rows:
    lines.append("| " + " | ".join("" if row.get(c) is None else str(row.get(c))
                                   for c in cols) + " |")
  table = "\n".join(lines)
  print(table)
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out + ".json", "w") as f:
    json.dump({"rows": rows, "meta": meta}, f, indent=1)
  with open(args.out + ".md", "w") as f:
    f.write(table + "\n\n" + json.dumps(meta) + "\n")


if __name__ == "__main__":
  main()
