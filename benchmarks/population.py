"""Populations: K members in one compiled step against K single runs, and their drift.

    python benchmarks/population.py [--ks 1,2,4,8] [--cases digits,toy] [--repeats 5]
                                    [--out DIR]
    python benchmarks/population.py --drift 10,100,1000 [--method map|vmap]
                                    [--recipes wgan,...] [--out DIR]

Throughput (issue 17). Cases:
  digits  the default digits recipe (wgan_gp.py: MLP 64-256x3, batch 64, n_critic 5)
  toy     the WGAN-GP toy recipe (wgan_gp.py:dataset=8gaussians: MLP 2-512x3,
          batch 256, n_critic 5, rolled critic loop)
For each K, three ways to train K seeds, built as a run builds them (config ->
validation -> factory.make_step_spec -> jaxgan.mesh.compile_step on a one-device
mesh, state donated): the population step (jaxgan.population) with
population.method=vmap (the K members batched into one computation) and with
population.method=map (the members one after another inside the one compiled
step), and K single runs one after another (K states, the single run's compiled
step called for each in turn). All hold one real batch per member on the device
(the data pipeline is not timed). Each is warmed up, calibrated to ~0.5 s per
repeat, and the repeats run round-robin, one of each per round, so a change of
machine load hits all alike; a rate is the median over repeats.

Per row: member-steps/s of each (a population: K x its steps/s), the populations'
speed-ups over the single runs, compile times (trace + lower + compile; the
persistent cache is off), XLA's FLOPs per member-step and the achieved fraction of
the float32 matmul peak measured in the same run, member-steps per CPU-second of
this process (less sensitive to other processes than wall time), and the load
average before and after. Output: JSON rows on stdout and <out>/population.json,
a markdown table in <out>/population.md.

Drift (--drift N1,N2,...): for each recipe on digits, a seed-only population of 2
members (population.method --method, default: the backend's) and each member's
single run (same seed, same data) trained through the same library paths,
compared after N1, N2, ... steps: whether they are bitwise equal, the relative L2
distance of the generator and critic parameters, and the largest difference of
the generators' samples on 100 fixed latents, beside the same distance between two
single runs of different seeds (what "different" looks like). Output:
<out>/population_drift_<method>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import jax  # noqa: E402

import run_meta  # noqa: E402  (benchmarks/, on sys.path as the script's dir)
import numpy as np  # noqa: E402

from configs import dragan, lsgan, nsgan, wgan, wgan_gp  # noqa: E402
from jaxgan import data, factory, mesh, population, rng, sample, train, validation  # noqa: E402

RECIPES = {"wgan": wgan, "wgan_gp": wgan_gp, "dragan": dragan, "lsgan": lsgan,
           "nsgan": nsgan}
CASES = {"digits": ("wgan_gp", "dataset=digits"), "toy": ("wgan_gp", "dataset=8gaussians")}
REPEAT_SECONDS = 0.5  # calibrated length of one timed repeat
TARGET_DIGITS_K8 = 3.0  # issue 17: >= 3x the sequential single runs at K = 8 on digits


def _config(recipe, variant, members, method="auto"):
  config = RECIPES[recipe].get_config(variant)
  config.population.size = members
  config.population.method = method
  return config


matmul_peak = run_meta.matmul_peak


class Population:
  """K members in one compiled step (jaxgan.population)."""

  def __init__(self, config):
    shape = validation.validate(config)
    spec = factory.make_step_spec(config, shape)
    self.members = population.num_members(config)
    self.mesh = mesh.make_mesh(jax.devices()[:1], members=self.members)
    state = mesh.put_state(population.init_state(config, spec, shape), self.mesh)
    real = np.tanh(np.random.default_rng(0).normal(
        size=(self.members, config.train.n_critic, config.train.batch_size, *shape)))
    self.batch = mesh.global_batch(real.astype(np.float32), self.mesh)
    t0 = time.perf_counter()
    self.step = mesh.compile_step(spec, self.mesh, state, self.batch,
                                  step_fn=population.step_fn(config))
    self.compile_s = time.perf_counter() - t0
    self.state = state

  def __call__(self, calls):
    for _ in range(calls):
      self.state, metrics = self.step(self.state, self.batch)
    jax.block_until_ready((self.state, metrics))


class Sequential:
  """K single runs, one compiled single-run step called for each in turn."""

  def __init__(self, config):
    shape = validation.validate(config)
    members = population.members(config)
    self.members = len(members)
    single = population.member_config(config, 0)
    spec = factory.make_step_spec(single, shape)
    self.mesh = mesh.make_mesh(jax.devices()[:1])
    self.states = [mesh.put_state(train.init_state(spec, rng.run_key(m.seed), shape), self.mesh)
                   for m in members]
    real = np.tanh(np.random.default_rng(0).normal(
        size=(self.members, config.train.n_critic, config.train.batch_size, *shape)))
    self.batches = [mesh.global_batch(r.astype(np.float32), self.mesh) for r in real]
    t0 = time.perf_counter()
    self.step = mesh.compile_step(spec, self.mesh, self.states[0], self.batches[0])
    self.compile_s = time.perf_counter() - t0
    self.flops = self.step.cost_analysis()["flops"]

  def __call__(self, calls):
    for _ in range(calls):
      for i in range(self.members):
        self.states[i], metrics = self.step(self.states[i], self.batches[i])
    jax.block_until_ready((self.states, metrics))


def _calibrate(fn):
  fn(2)  # warm-up, excluded
  calls, seconds = 1, 0.0
  while seconds < REPEAT_SECONDS / 4 and calls < 10_000:
    start = time.perf_counter()
    fn(calls)
    seconds = time.perf_counter() - start
    if seconds < REPEAT_SECONDS / 4:
      calls *= 2
  return max(1, int(calls * REPEAT_SECONDS / max(seconds, 1e-9)))


def _timed(fn, calls):
  wall, cpu = time.perf_counter(), time.process_time()
  fn(calls)
  return time.perf_counter() - wall, time.process_time() - cpu


def throughput_row(case, members, repeats, peak):
  recipe, variant = CASES[case]
  load_before = os.getloadavg()
  runners = {"vmap": Population(_config(recipe, variant, members, "vmap")),
             "map": Population(_config(recipe, variant, members, "map")),
             "single": Sequential(_config(recipe, variant, members))}
  calls = {k: _calibrate(fn) for k, fn in runners.items()}
  times = {k: [] for k in runners}
  for _ in range(repeats):
    for name, fn in runners.items():
      times[name].append(_timed(fn, calls[name]))
  rate = {k: members * calls[k] / statistics.median(w for w, _ in v) for k, v in times.items()}
  cpu = {k: members * calls[k] / statistics.median(c for _, c in v) for k, v in times.items()}
  flops = runners["single"].flops  # map's while loop would count one member's body
  row = {"case": case, "recipe": f"{recipe}.py:{variant}", "members": members,
         "flops_per_member_step": flops, "single_compile_s": runners["single"].compile_s}
  for k in runners:
    row[f"{k}_member_steps_s"] = rate[k]
    row[f"{k}_member_steps_per_cpu_s"] = cpu[k]
    row[f"{k}_fraction_of_peak"] = rate[k] * flops / 1e9 / peak
  for k in ("vmap", "map"):
    row[f"{k}_speedup"] = rate[k] / rate["single"]
    row[f"{k}_cpu_speedup"] = cpu[k] / cpu["single"]
    row[f"{k}_compile_s"] = runners[k].compile_s
  row.update(repeats=repeats, calls_per_repeat=calls,
             load_before=[round(x, 2) for x in load_before],
             load_after=[round(x, 2) for x in os.getloadavg()])
  return row


def throughput_table(rows, peak) -> str:
  lines = [f"Matmul peak measured in this run: {peak:.0f} GFLOP/s. Member-steps/s; "
           "speed-up = over K single runs one after another (wall time; per CPU-second of "
           "this process in brackets).", "",
           "| case | K | K single runs | vmap | vmap speed-up | map | map speed-up "
           "| compile: single / vmap / map | of matmul peak: single / vmap / map "
           "| load before -> after |",
           "|---|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    lines.append(
        f"| {r['case']} | {r['members']} | {r['single_member_steps_s']:.1f} | "
        f"{r['vmap_member_steps_s']:.1f} | {r['vmap_speedup']:.2f}x ({r['vmap_cpu_speedup']:.2f}x) "
        f"| {r['map_member_steps_s']:.1f} | {r['map_speedup']:.2f}x ({r['map_cpu_speedup']:.2f}x) "
        f"| {r['single_compile_s']:.1f} / {r['vmap_compile_s']:.1f} / {r['map_compile_s']:.1f} s "
        f"| {r['single_fraction_of_peak']:.0%} / {r['vmap_fraction_of_peak']:.0%} / "
        f"{r['map_fraction_of_peak']:.0%} | {r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f} |")
  k8 = [r for r in rows if r["case"] == "digits" and r["members"] == 8]
  if k8:
    best = max(k8[0]["vmap_speedup"], k8[0]["map_speedup"])
    met = "met" if best >= TARGET_DIGITS_K8 else "not met"
    lines += ["", f"Target >= {TARGET_DIGITS_K8:g}x at K = 8 on digits: {met} "
              f"(best {best:.2f}x)."]
  return "\n".join(lines)


# --- Drift ---------------------------------------------------------------------------


def _rel_l2(a, b) -> float:
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  num = sum(float(np.sum((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2))
            for x, y in zip(la, lb))
  den = sum(float(np.sum(np.asarray(x, np.float64) ** 2)) for x in la)
  return (num / den) ** 0.5


def _bitwise(a, b) -> bool:
  return all(np.array_equal(np.asarray(x), np.asarray(y))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def population_states(config, checkpoints):
  """Yields (step, spec, host PopulationState) at each of `checkpoints` (ascending)."""
  shape = validation.validate(config)
  spec = factory.make_step_spec(config, shape)
  m = mesh.make_mesh(jax.devices()[:1], members=population.num_members(config))
  state = mesh.put_state(population.init_state(config, spec, shape), m)
  seeds = [mm.seed for mm in population.members(config)]
  items = population.PopulationIterator(data.make_iterators(
      config.dataset, global_batch_size=config.train.batch_size,
      n_critic=config.train.n_critic, seeds=sorted(set(seeds))), seeds)
  batch = mesh.global_batch(next(items), m)
  step = mesh.compile_step(spec, m, state, batch, step_fn=population.step_fn(config))
  for t in range(1, max(checkpoints) + 1):
    state, _ = step(state, batch)
    batch = mesh.global_batch(next(items), m)
    if t in checkpoints:
      yield t, spec, mesh.to_host(state)


def single_states(config, checkpoints):
  """Yields (step, spec, host GANState) of the single run of `config` at `checkpoints`."""
  shape = validation.validate(config)
  spec = factory.make_step_spec(config, shape)
  m = mesh.make_mesh(jax.devices()[:1])
  state = mesh.put_state(train.init_state(spec, rng.run_key(config.seed), shape), m)
  items = data.make_iterator(config.dataset, global_batch_size=config.train.batch_size,
                             n_critic=config.train.n_critic, seed=config.seed)
  batch = mesh.global_batch(next(items), m)
  step = mesh.compile_step(spec, m, state, batch)
  for t in range(1, max(checkpoints) + 1):
    state, _ = step(state, batch)
    batch = mesh.global_batch(next(items), m)
    if t in checkpoints:
      yield t, spec, mesh.to_host(state)


def drift_rows(recipe, checkpoints, data_dir, method):
  """Member i of a 2-seed population vs the single run of seed i at each checkpoint."""
  config = _config(recipe, "dataset=digits", 2, method)
  config.dataset.data_dir = data_dir
  z = sample.fixed_latents(0, 100, config.model.z_dim)
  pops = list(population_states(config, checkpoints))
  singles = [list(single_states(population.member_config(config, i), checkpoints))
             for i in range(2)]
  rows = []
  for k, (t, spec, pstate) in enumerate(pops):
    row = {"recipe": recipe, "steps": t, "method": population.resolve_method(config),
           "members": []}
    outs = []
    for i in range(2):
      _, single_spec, single = singles[i][k]
      member = population.member_state(pstate, i)
      outs.append(sample.generate_samples(single_spec, single, z))
      row["members"].append({
          "member": i, "bitwise": _bitwise(single, member),
          "generator_rel_l2": _rel_l2(single.generator_params, member.generator_params),
          "critic_rel_l2": _rel_l2(single.critic_params, member.critic_params),
          "samples_max_abs_diff": float(np.max(np.abs(
              outs[-1] - sample.generate_samples(spec, member, z)))),
      })
    row["seed0_vs_seed1_samples_max_abs_diff"] = float(np.max(np.abs(outs[0] - outs[1])))
    rows.append(row)
  return rows


def drift_table(rows) -> str:
  lines = ["| recipe (digits) | method | steps | member | bitwise | G params rel. L2 "
           "| D params rel. L2 | samples max abs diff | seed 0 vs seed 1 samples |",
           "|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    for m in r["members"]:
      lines.append(f"| {r['recipe']} | {r['method']} | {r['steps']} | {m['member']} | "
                   f"{m['bitwise']} | "
                   f"{m['generator_rel_l2']:.2g} | {m['critic_rel_l2']:.2g} | "
                   f"{m['samples_max_abs_diff']:.2g} | "
                   f"{r['seed0_vs_seed1_samples_max_abs_diff']:.2g} |")
  return "\n".join(lines)


def _meta():
  return {"commit": run_meta.git_commit(), "cpu": run_meta.cpu_name(),
          "jax": jax.__version__, "devices": str(jax.devices()),
          "date": time.strftime("%Y-%m-%d %H:%M")}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--ks", default="1,2,4,8")
  parser.add_argument("--cases", default="digits,toy")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--drift", default="", help="steps at which to measure the drift, "
                      "e.g. 10,100,1000")
  parser.add_argument("--recipes", default="wgan,wgan_gp,dragan,lsgan,nsgan")
  parser.add_argument("--method", default="auto", help="population.method of the drift runs")
  parser.add_argument("--data_dir", default="", help="TFDS data_dir for the digits")
  parser.add_argument("--out", default=os.path.join(HERE, "results"))
  args = parser.parse_args()
  jax.config.update("jax_enable_compilation_cache", False)
  os.makedirs(args.out, exist_ok=True)
  if args.drift:
    rows = []
    checkpoints = sorted(int(t) for t in args.drift.split(","))
    for recipe in args.recipes.split(","):
      rows += drift_rows(recipe, checkpoints, args.data_dir, args.method)
      print(json.dumps(rows[-len(checkpoints):]), flush=True)
    stem = os.path.join(args.out, f"population_drift_{rows[0]['method']}")
    with open(stem + ".json", "w") as f:
      json.dump({"meta": _meta(), "rows": rows}, f, indent=2)
    table = drift_table(rows)
    with open(stem + ".md", "w") as f:
      f.write(f"Drift of population members from their single runs ({_meta()}).\n\n{table}\n")
    print(table)
    return
  peak = matmul_peak()
  rows = []
  for case in args.cases.split(","):
    for k in (int(k) for k in args.ks.split(",")):
      rows.append(throughput_row(case, k, args.repeats, peak))
      print(json.dumps(rows[-1]), flush=True)
  peak = max(peak, matmul_peak())
  with open(os.path.join(args.out, "population.json"), "w") as f:
    json.dump({"meta": _meta(), "matmul_peak_gflop_s": peak, "rows": rows}, f, indent=2)
  table = throughput_table(rows, peak)
  with open(os.path.join(args.out, "population.md"), "w") as f:
    f.write(f"Population throughput ({_meta()}).\n\n{table}\n")
  print(table)


if __name__ == "__main__":
  main()
