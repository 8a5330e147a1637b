"""Toy-set table (issue 4): every recipe on 8gaussians, 25gaussians and swissroll.

    python benchmarks/toy_table.py [--only wgan_gp,dragan] [--datasets 25gaussians]
                                   [--steps 3000] [--seed 0] [--out benchmarks/results]

Each (recipe, toy set) is trained from scratch with the recipe's own toy config
(`configs/<recipe>.py` get_config("dataset=<set>"), train.num_steps from
configs/common.py _TOY_STEPS unless --steps is given), one fixed seed, in a fresh
temporary workdir, through `jaxgan.loop.train_and_evaluate` with evaluation during
training off; the final state is then evaluated once with `jaxgan.evaluate.Evaluator`
(eval.num_samples = 2,500 generated points from latents fixed by the seed):

- 8gaussians / 25gaussians: the VEEGAN protocol (Srivastava et al. 2017, after Metz
  et al. 2017): a sample is high quality (HQ) if within 3 standard deviations of its
  nearest mode; modes covered (>= 1 HQ sample, and strictly: >= 1% of the samples);
  % HQ; KL of the HQ mode histogram from uniform (nats).
- every set: the sliced 2-Wasserstein distance to fresh real data (1,000 directions),
  beside what a second real sample of the same size gets ("real data" row).

Plus one EMA row (--ema_recipe, default wgan_gp, with ema.enabled=True, on
--ema_datasets): the raw and the EMA generator of the same run. The EMA does not
change training, so that row's raw numbers must equal the plain row's (a
determinism check the script reports).

Column lr: the learning-rate schedule the row ran (constant, or linear decay to 0:
the WGAN-GP and DRAGAN toy recipes' default since commit 5e1d0ef).

Wall time is the whole train_and_evaluate call (data, init, compilation, the
training steps, one checkpoint and one sample grid at the end); steps/s is the
loop's own rate after compilation (metrics.jsonl). The load average is sampled
every 5 s during each run (this is a shared 2-core machine), so a slow row can be
told from a slow machine.

Rows are merged into <out>/toy_table.json by (recipe, dataset, variant): running a
subset (--only, --datasets) replaces those rows and keeps the others, each row with
its own date, commit, load and budget; --fresh starts an empty table. The markdown
table (<out>/toy_table.md, also printed) is written from all rows. Critic-contour
plots of the final evaluation are copied to <out>/toy_plots/ for the pairs in
--plots (a few small PNGs for README).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import jax  # noqa: E402

import run_meta  # noqa: E402  (benchmarks/, on sys.path as the script's dir)

from jaxgan import eval as evaluate_lib  # noqa: E402
from jaxgan import loop  # noqa: E402

RECIPES = ("wgan", "wgan_gp", "dragan", "lsgan", "nsgan")
DATASETS = ("8gaussians", "25gaussians", "swissroll")
MODE_SETS = ("8gaussians", "25gaussians")
# Issue 4's goal for the gradient-penalty recipes: (modes, minimum % HQ).
GOAL = {"25gaussians": (25, 90.0), "8gaussians": (8, 95.0)}
GOAL_RECIPES = ("wgan_gp", "dragan")
# Published numbers to place beside ours (VEEGAN paper, Srivastava et al. 2017,
# Table 1: 2,500 samples, HQ = within 3 std of a mode). 8-mode ring: VEEGAN only.
ANCHORS = (
    ("GAN", "25gaussians", 3.3, 0.5),
    ("Unrolled GAN", "25gaussians", 23.6, 16.0),
    ("VEEGAN", "25gaussians", 24.6, 40.0),
    ("VEEGAN", "8gaussians", 8.0, 52.9),
)
RESULTS_NAME = "toy_table"

logger = logging.getLogger("jaxgan")


# --- One run -------------------------------------------------------------------------


def _parse_value(text: str):
  try:
    return json.loads(text)
  except json.JSONDecodeError:
    return text


def make_config(recipe: str, dataset: str, *, seed: int, steps: int | None, ema: bool,
                overrides: dict | None = None):
  """The recipe's toy config with the table's overrides (seed, budget, EMA, no mid-run eval)."""
  config = importlib.import_module(f"configs.{recipe}").get_config(f"dataset={dataset}")
  for key, value in (overrides or {}).items():
    node = config
    *parents, leaf = key.split(".")
    for name in parents:
      node = node[name]
    if leaf not in node:
      raise SystemExit(f"error: unknown config key {key!r}")
    node[leaf] = type(node[leaf])(value) if node[leaf] is not None else value
  config.seed = seed
  if steps is not None:
    config.train.num_steps = steps
  n = config.train.num_steps
  config.log.every = max(n // 50, 1)
  # One checkpoint and one sample grid, at the end: the table times training.
  config.log.checkpoint_every = n
  config.log.sample_every = n
  config.log.eval_every = 0
  config.ema.enabled = ema
  return config


class LoadSampler:
  """Samples the 1-minute load average every `every` seconds in a daemon thread."""

  def __init__(self, every: float = 5.0):
    self.every = every
    self.samples = []
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True)

  def _run(self):
    while True:
      self.samples.append(os.getloadavg()[0])
      if self._stop.wait(self.every):
        return

  def __enter__(self):
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()
    return False

  def summary(self) -> dict:
    s = self.samples or [os.getloadavg()[0]]
    return {"mean": round(sum(s) / len(s), 2), "min": round(min(s), 2),
            "max": round(max(s), 2)}


def run_one(recipe: str, dataset: str, *, seed: int, steps: int | None, ema: bool,
            workroot: str | None, plots_dir: str | None, keep: bool,
            overrides: dict | None = None, variant: str = "") -> dict:
  """Trains one (recipe, dataset) from scratch and evaluates the final state."""
  config = make_config(recipe, dataset, seed=seed, steps=steps, ema=ema, overrides=overrides)
  variant = "ema" if ema else variant
  tag = f"{recipe}{'_' + variant if variant else ''}_{dataset}"
  workdir = tempfile.mkdtemp(prefix=f"toy_{tag}_", dir=workroot)
  logger.info("=== %s: %d steps, n_critic %d, seed %d, workdir %s", tag,
              config.train.num_steps, config.train.n_critic, seed, workdir)
  with LoadSampler() as load:
    t0 = time.time()
    state = loop.train_and_evaluate(config, workdir)
    train_s = time.time() - t0
  step = int(state.step)
  if step != config.train.num_steps:
    # train_and_evaluate returns early (after a checkpoint) on SIGTERM / SIGINT: a
    # partly trained row must not enter the table, and the table run stops too.
    raise SystemExit(f"{tag}: training stopped at step {step} of "
                     f"{config.train.num_steps} (signal); no row written (workdir {workdir})")
  _, spec, _ = loop.build(config)
  t1 = time.time()
  result = evaluate_lib.Evaluator(config, spec, workdir)(state, step)
  eval_s = time.time() - t1
  records = evaluate_lib.read_metrics(os.path.join(workdir, "metrics.jsonl"))
  rates = [r["perf/steps_per_second"] for r in records if "perf/steps_per_second" in r]
  row = {
      "recipe": recipe, "dataset": dataset, "variant": variant,
      "overrides": dict(overrides or {}),
      "loss": config.loss.name, "penalty": config.penalty.name,
      "penalty_weight": float(config.penalty.weight),
      "n_critic": int(config.train.n_critic),
      "num_steps": int(config.train.num_steps), "seed": seed,
      "batch_size": int(config.train.batch_size),
      "lr_schedule": _schedule_of(config),
      "train_wall_s": round(train_s, 1),
      "steps_per_second": round(rates[-1], 2) if rates else None,
      "eval_s": round(eval_s, 1),
      "load_1min_during": load.summary(),
      "generators": result["generators"],
      "real_data_reference": result.get("real_data_reference"),
      "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
      "commit": run_meta.git_commit(),
  }
  logger.info("=== %s: trained in %.0fs (%.1f steps/s, load %.1f); %s", tag, train_s,
              row["steps_per_second"] or float("nan"), row["load_1min_during"]["mean"],
              evaluate_lib.summary_line(result))
  if plots_dir is not None:
    os.makedirs(plots_dir, exist_ok=True)
    for path in result["plots"]:
      name = os.path.basename(path)
      if name.endswith("_critic.png"):
        suffix = "_ema" if name.endswith("_ema_critic.png") else ""
        label = f"_{variant}" if variant and variant != "ema" else ""
        dest = os.path.join(plots_dir, f"{recipe}{label}_{dataset}{suffix}_critic.png")
        shutil.copyfile(path, dest)
        row.setdefault("plots", []).append(os.path.relpath(dest, ROOT))
  if keep:
    row["workdir"] = workdir
  else:
    shutil.rmtree(workdir, ignore_errors=True)
  return row


# --- The table -----------------------------------------------------------------------


def _schedule_label(critic: str, generator: str) -> str:
  return critic if critic == generator else f"{critic}/{generator}"


def _schedule_of(config) -> str:
  return _schedule_label(config.optimizer.critic.schedule,
                         config.optimizer.generator.schedule)


def _row_schedule(row: dict) -> str:
  """A row's learning-rate schedule; rows from before the toy recipes' linear decay
  (commit 5e1d0ef) did not record it and ran constant unless overridden."""
  if "lr_schedule" in row:
    return row["lr_schedule"]
  over = row.get("overrides", {})
  return _schedule_label(over.get("optimizer.critic.schedule", "constant"),
                         over.get("optimizer.generator.schedule", "constant"))


def _key(row: dict) -> tuple:
  return (row["recipe"], row["dataset"], row["variant"])


def _fmt_modes(g: dict) -> str:
  if "modes_covered" not in g:
    return "-"
  return f"{g['modes_covered']}/{g['num_modes']} ({g['modes_covered_strict']})"


def _fmt(value, spec: str) -> str:
  return "-" if value is None else format(value, spec)


def _minutes(seconds: float) -> str:
  m, s = divmod(int(round(seconds)), 60)
  return f"{m}m{s:02d}s"


def table(rows: list[dict]) -> str:
  """Markdown: one line per (row, generator), grouped by dataset; real data first."""
  out = ["| dataset | recipe | lr | modes (>= 1%) | % HQ | mode KL | sliced W2 | steps | "
         "train wall | steps/s | load |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
  order = {r: i for i, r in enumerate(RECIPES)}
  for dataset in DATASETS:
    sub = sorted((r for r in rows if r["dataset"] == dataset),
                 key=lambda r: (order.get(r["recipe"], 99), r["variant"]))
    if not sub:
      continue
    ref = sub[0]["real_data_reference"]
    out.append(f"| {dataset} | *real data (2nd sample)* | | {_fmt_modes(ref)} | "
               f"{_fmt(ref.get('hq_percent'), '.1f')} | {_fmt(ref.get('mode_kl'), '.3f')} | "
               f"{ref['sliced_wasserstein']:.4f} | | | | |")
    for r in sub:
      for label, g in r["generators"].items():
        name = r["recipe"] + (f" + EMA ({label} G)" if r["variant"] == "ema" else
                              f" ({r['variant']})" if r["variant"] else "")
        out.append(
            f"| {dataset} | {name} | {_row_schedule(r)} | {_fmt_modes(g)} | "
            f"{_fmt(g.get('hq_percent'), '.1f')} | "
            f"{_fmt(g.get('mode_kl'), '.3f')} | {_fmt(g.get('sliced_wasserstein'), '.4f')} | "
            f"{r['num_steps']:,} | {_minutes(r['train_wall_s'])} | "
            f"{_fmt(r['steps_per_second'], '.1f')} | {r['load_1min_during']['mean']:.1f} |")
  return "\n".join(out)


def anchors_table() -> str:
  out = ["| dataset | method (VEEGAN paper, Table 1) | modes | % HQ |", "|---|---|---|---|"]
  for method, dataset, modes, hq in ANCHORS:
    out.append(f"| {dataset} | {method} | {modes:g} | {hq:g} |")
  return "\n".join(out)


def goal_checks(rows: list[dict]) -> list[dict]:
  """Issue 4's goal per (goal recipe, mode set) present in the table (raw generator)."""
  checks = []
  for r in rows:
    if r["recipe"] not in GOAL_RECIPES or r["variant"] == "ema" or r["dataset"] not in GOAL:
      continue
    g = r["generators"]["raw"]
    modes, hq = GOAL[r["dataset"]]
    met = g["modes_covered"] >= modes and g["hq_percent"] >= hq
    checks.append({
        "recipe": r["recipe"] + (f" ({r['variant']})" if r["variant"] else ""),
        "dataset": r["dataset"],
        "target": f"{modes}/{modes} modes and >= {hq:g}% HQ",
        "value": f"{g['modes_covered']}/{g['num_modes']} modes, {g['hq_percent']:.1f}% HQ",
        "met": bool(met), "num_steps": r["num_steps"],
        "train_wall_s": r["train_wall_s"]})
  return checks


def determinism_checks(rows: list[dict]) -> list[dict]:
  """An EMA row's raw generator against the plain row of the same recipe and set."""
  plain = {(r["recipe"], r["dataset"]): r for r in rows if not r["variant"]}
  out = []
  for r in rows:
    if r["variant"] != "ema":
      continue
    p = plain.get((r["recipe"], r["dataset"]))
    if p is None or p["num_steps"] != r["num_steps"] or p["seed"] != r["seed"]:
      continue
    out.append({"recipe": r["recipe"], "dataset": r["dataset"],
                "raw_equal": p["generators"]["raw"] == r["generators"]["raw"]})
  return out


def write_results(rows: list[dict], out_dir: str, meta: dict) -> str:
  checks = goal_checks(rows)
  det = determinism_checks(rows)
  md = table(rows)
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, f"{RESULTS_NAME}.json"), "w") as f:
    json.dump({"meta": meta, "goal": checks, "ema_raw_matches_plain": det, "rows": rows},
              f, indent=1)
  lines = [
      "# Toy-set table (benchmarks/toy_table.py)", "",
      "Each row: one training run from scratch (seed and budget in the JSON), then "
      f"{meta['num_samples']:,} generated samples from the final generator. Modes: "
      "covered by >= 1 high-quality (HQ, within 3 std of the nearest mode) sample; in "
      "brackets the modes with >= 1% of the samples. Mode KL: KL of the HQ samples' "
      "mode histogram from uniform (nats). Sliced W2: sliced 2-Wasserstein distance to "
      "fresh real data (1,000 directions). Train wall: the whole training call "
      "(incl. compilation) on this shared 2-core CPU; load: mean 1-minute load "
      "average during the run.", "", md, "", "Anchors:", "", anchors_table(), "",
      "## Goal (issue 4)", ""]
  for c in checks:
    lines.append(f"- {c['recipe']} on {c['dataset']}: {c['target']}: {c['value']} -> "
                 f"{'met' if c['met'] else 'NOT met'} ({c['num_steps']:,} steps, "
                 f"{_minutes(c['train_wall_s'])} training)")
  for d in det:
    lines.append(f"- {d['recipe']} + EMA on {d['dataset']}: raw generator identical to the "
                 f"plain run: {'yes' if d['raw_equal'] else 'NO'}")
  lines += ["", "## Run", "", "```json", json.dumps(meta, indent=1), "```", ""]
  with open(os.path.join(out_dir, f"{RESULTS_NAME}.md"), "w") as f:
    f.write("\n".join(lines))
  return md


def load_rows(path: str) -> list[dict]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return json.load(f).get("rows", [])


def _csv(text: str, allowed, what: str) -> list[str]:
  items = [x.strip() for x in text.split(",") if x.strip()]
  bad = [x for x in items if x not in allowed]
  if bad:
    raise SystemExit(f"error: unknown {what} {', '.join(bad)}; allowed: {', '.join(allowed)}")
  return items


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", default=",".join(RECIPES), help="recipes, comma-separated")
  parser.add_argument("--datasets", default=",".join(DATASETS), help="toy sets, comma-separated")
  parser.add_argument("--steps", type=int, default=None,
                      help="generator steps for every run (default: each recipe's toy budget)")
  parser.add_argument("--seed", type=int, default=0, help="config.seed of every run")
  parser.add_argument("--ema_recipe", default="wgan_gp",
                      help="recipe of the EMA row ('' = no EMA row)")
  parser.add_argument("--ema_datasets", default="25gaussians",
                      help="toy sets of the EMA row (only those also in --datasets)")
  parser.add_argument("--plots", default="wgan_gp:25gaussians,dragan:25gaussians",
                      help="recipe:dataset pairs whose critic plots go to <out>/toy_plots")
  parser.add_argument("--out", default=os.path.join(HERE, "results"),
                      help="directory for toy_table.{json,md} and toy_plots/")
  parser.add_argument("--fresh", action="store_true",
                      help="discard the rows already in <out>/toy_table.json")
  parser.add_argument("--set", default="",
                      help="config overrides for every run of this invocation, e.g. "
                           "penalty.weight=0.1,train.n_critic=5 (needs --variant)")
  parser.add_argument("--variant", default="",
                      help="label of the rows of an invocation with --set, e.g. lambda0.1")
  parser.add_argument("--workroot", default=None, help="parent of the temporary workdirs")
  parser.add_argument("--keep", action="store_true", help="keep the run workdirs")
  args = parser.parse_args()
  recipes = _csv(args.only, RECIPES, "recipe")
  datasets = _csv(args.datasets, DATASETS, "dataset")
  ema_sets = [d for d in _csv(args.ema_datasets, DATASETS, "dataset") if d in datasets]
  plot_pairs = {tuple(p.split(":")) for p in args.plots.split(",") if p}
  overrides = {k.strip(): _parse_value(v.strip()) for k, _, v in
               (item.partition("=") for item in args.set.split(",") if item.strip())}
  if overrides and not args.variant:
    raise SystemExit("error: --set needs --variant (a label for those rows)")

  handler = logging.StreamHandler(sys.stdout)
  handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
  logger.addHandler(handler)
  logger.setLevel(logging.INFO)
  logger.propagate = False
  jax.config.update("jax_compilation_cache_dir",
                    os.path.expanduser(os.path.join("~", ".cache", "jaxgan", "xla")))

  runs = [(r, d, False) for d in datasets for r in recipes]
  if args.ema_recipe and not overrides:
    runs += [(args.ema_recipe, d, True) for d in ema_sets]
  json_path = os.path.join(args.out, f"{RESULTS_NAME}.json")
  rows = [] if args.fresh else load_rows(json_path)
  t_start = time.time()
  load_start = os.getloadavg()
  meta = {}
  md = table(rows)
  for recipe, dataset, ema in runs:
    plots_dir = (os.path.join(args.out, "toy_plots")
                 if (recipe, dataset) in plot_pairs and not ema else None)
    row = run_one(recipe, dataset, seed=args.seed, steps=args.steps, ema=ema,
                  workroot=args.workroot, plots_dir=plots_dir, keep=args.keep,
                  overrides=overrides, variant=args.variant)
    rows = [r for r in rows if _key(r) != _key(row)] + [row]
    meta = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {run_meta.cpu_name()}",
        "python": platform.python_version(), "jax": jax.__version__,
        "backend": jax.default_backend(),
        "num_samples": int(make_config(recipe, dataset, seed=0, steps=None,
                                       ema=False).eval.num_samples),
        "command": " ".join(sys.argv),
        "this_invocation": {
            "runs": [f"{r}{'+ema' if e else ''}:{d}" for r, d, e in runs],
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_now": [round(x, 2) for x in os.getloadavg()],
            "wall_s": round(time.time() - t_start, 1)},
        "commit": run_meta.git_commit(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "note": "rows may come from different invocations; each row has its own "
                "date_utc, commit and load_1min_during",
    }
    # Written after every run, so an interrupted table keeps what finished.
    md = write_results(rows, args.out, meta)
  print(md)
  for c in goal_checks(rows):
    print(f"goal {c['recipe']} {c['dataset']}: {c['value']} -> "
          f"{'met' if c['met'] else 'NOT met'}")


if __name__ == "__main__":
  main()
