"""Recipes trained through the library and tabulated: one table per subcommand.

    python benchmarks/recipes.py toy [--only wgan_gp,dragan] [--datasets 25gaussians]
        [--steps 3000] [--set penalty.weight=0.1 --variant lambda0.1] [--fresh]
    python benchmarks/recipes.py cifar --data=/tmp/cifar10-jpeg/train --workdir=/tmp/sngan_cifar \
        -- --config=configs/sngan.py:dataset=folder --config.model.width=16 \
        --config.model.generator_width=32 --config.train.num_steps=1000 \
        --config.log.eval_every=200 --config.log.sample_every=200
    python benchmarks/recipes.py cifar --workdir=/tmp/sngan_cifar --report-only
    python benchmarks/recipes.py conditional [--root runs/conditional_digits]
    python benchmarks/recipes.py seeds [--recipes wgan,...] [--seeds 8] [--steps 0]
    python benchmarks/recipes.py drift --drift 10,100,1000 [--method map|vmap] [--recipes ...]

Every table trains through jaxgan (jaxgan.loop.train_and_evaluate in this process,
or launch.py in a subprocess), reads the run's eval/step_N.json and writes
<out>/<table>.json and .md (default out: benchmarks/results):

toy (toy_table): every recipe on 8gaussians, 25gaussians and swissroll, each from
  scratch with the recipe's toy config (configs/<recipe>.py:dataset=<set>), seed 0,
  in a temporary workdir, evaluated once at its last step (2,500 generated points):
  the VEEGAN protocol on the mode sets (a sample is high quality, HQ, within 3 std of
  its nearest mode; modes covered, and strictly with >= 1% of the samples; % HQ; KL
  of the HQ mode histogram from uniform) and the sliced 2-Wasserstein distance to
  fresh real data on every set, beside a second real sample ("real data" row); plus
  one EMA row (wgan_gp on 25gaussians) whose raw generator must equal the
  plain row's (a determinism check). Train wall is the training call without the
  evaluation; the load average is sampled every 5 s. Rows merge into toy_table.json
  by (recipe, dataset, variant); --fresh starts empty. Critic plots of --plots go to
  <out>/toy_plots/.
cifar (cifar_run): launch.py (the flags after `--`) under `nice -n 10` on CIFAR-10 JPEG
  class folders, its log in WORKDIR.log, command in WORKDIR.cmd, load each minute in
  WORKDIR.load; then per run one row per evaluation (wall clock since launch, the
  evaluation classifier's FD, KID, classes covered, confidence) and its last sample
  grid copied as cifar_run_<run>_step_N.png. The classifier is jaxgan's small CIFAR
  classifier, not Inception: the numbers compare jaxgan runs with each other.
conditional (conditional_digits): configs/wgan_gp.py:conditional=acgan and
  =projection on their default budget (unless ROOT/<variant> holds the finished
  run), judged by the run's evaluation classifier (eval/step_010000.json) and by a
  logistic regression on scikit-learn's digits scoring 1,000 samples of
  `launch.py --mode=sample`; each final per-class grid is copied beside the JSON.
seeds (population_seeds): every recipe on digits as a population of --seeds seeds,
  evaluated once at its last step: the digits classifier's FD and classes covered,
  mean +- 95% interval over the seeds and per seed. A complete run in
  --workdir_root is not retrained, so an interrupted table resumes.
drift (population_drift_<method>): a 2-seed population and each member's single
  run (same seed, same data) trained through the same library set-up
  (jaxgan.runs.setup), compared after each --drift step count: bitwise equality,
  relative L2 of the generator and critic parameters, the largest difference of
  samples on 100 fixed latents, beside two single runs of different seeds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import jax  # noqa: E402
import numpy as np  # noqa: E402

import run_meta  # noqa: E402  (benchmarks/, on sys.path as the script's dir)

from jaxgan import loop, mesh, population, runs, sample  # noqa: E402

RECIPES = ("wgan", "wgan_gp", "dragan", "lsgan", "nsgan")
logger = logging.getLogger("jaxgan")


# --- Shared -------------------------------------------------------------------------


def read_eval(workdir: str, step: int) -> dict:
  with open(os.path.join(workdir, "eval", f"step_{step:06d}.json")) as f:
    return json.load(f)


class EvalSeconds(logging.Handler):
  """Sums the seconds of the loop's "eval at step N (S s)" log records."""
  seconds = 0.0

  def emit(self, record):
    if record.msg.startswith("eval at step") and len(record.args) >= 2:
      self.seconds += float(record.args[1])


def train(config, workdir: str) -> tuple[float, float]:
  """train_and_evaluate; (wall seconds, of which evaluation seconds)."""
  handler = EvalSeconds()
  logger.addHandler(handler)
  try:
    t0 = time.monotonic()
    loop.train_and_evaluate(config, workdir)
    return time.monotonic() - t0, handler.seconds
  finally:
    logger.removeHandler(handler)


def launch(*args, **kw):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT, env=env, **kw)


def _csv(text: str, allowed, what: str) -> list[str]:
  items = [x.strip() for x in text.split(",") if x.strip()]
  bad = [x for x in items if x not in allowed]
  if bad:
    raise SystemExit(f"error: unknown {what} {', '.join(bad)}; allowed: {', '.join(allowed)}")
  return items


def _fmt(value, spec: str) -> str:
  return "-" if value is None else format(value, spec)


def _minutes(seconds: float) -> str:
  m, s = divmod(int(round(seconds)), 60)
  return f"{m}m{s:02d}s"


# --- toy: toy_table ------------------------------------------------------------------

TOY_SETS = ("8gaussians", "25gaussians", "swissroll")
GOAL = {"25gaussians": (25, 90.0), "8gaussians": (8, 95.0)}  # (modes, minimum % HQ)
GOAL_RECIPES = ("wgan_gp", "dragan")
SEED = 0  # config.seed of every toy run
EMA_ROW = ("wgan_gp", "25gaussians")  # the EMA row, beside the plain run it must equal
# Published numbers beside ours (VEEGAN paper, Srivastava et al. 2017, Table 1:
# 2,500 samples, HQ = within 3 std of a mode). 8-mode ring: VEEGAN only.
ANCHORS = (("GAN", "25gaussians", 3.3, 0.5), ("Unrolled GAN", "25gaussians", 23.6, 16.0),
           ("VEEGAN", "25gaussians", 24.6, 40.0), ("VEEGAN", "8gaussians", 8.0, 52.9))


def toy_config(recipe, dataset, *, steps, ema, overrides=None):
  """The recipe's toy config: SEED, the budget, EMA, one evaluation at the end."""
  config = run_meta.recipe_config(recipe, f"dataset={dataset}", overrides)
  config.seed = SEED
  if steps is not None:
    config.train.num_steps = steps
  n = config.train.num_steps
  config.log.every = max(n // 50, 1)
  # One checkpoint, one sample grid and one evaluation, at the end.
  config.log.checkpoint_every = config.log.sample_every = config.log.eval_every = n
  config.ema.enabled = ema
  return config


def _schedule(critic: str, generator: str) -> str:
  return critic if critic == generator else f"{critic}/{generator}"


def _row_schedule(row: dict) -> str:
  """A row's learning-rate schedule; rows from before the toy recipes' linear decay
  (commit 5e1d0ef) did not record it and ran constant unless overridden."""
  if "lr_schedule" in row:
    return row["lr_schedule"]
  over = row.get("overrides", {})
  return _schedule(over.get("optimizer.critic.schedule", "constant"),
                   over.get("optimizer.generator.schedule", "constant"))


def toy_row(recipe, dataset, *, steps, ema, workroot, plots_dir, overrides, variant) -> dict:
  """Trains one (recipe, toy set) from scratch; its row from the final evaluation."""
  config = toy_config(recipe, dataset, steps=steps, ema=ema, overrides=overrides)
  variant = "ema" if ema else variant
  tag = f"{recipe}{'_' + variant if variant else ''}_{dataset}"
  workdir = tempfile.mkdtemp(prefix=f"toy_{tag}_", dir=workroot)
  n = config.train.num_steps
  logger.info("=== %s: %d steps, n_critic %d, seed %d, workdir %s", tag, n,
              config.train.n_critic, SEED, workdir)
  with run_meta.LoadSampler() as load:
    wall, eval_s = train(config, workdir)
  if not os.path.exists(os.path.join(workdir, "eval", f"step_{n:06d}.json")):
    # train_and_evaluate returns early (after a checkpoint) on SIGTERM / SIGINT: a
    # partly trained row must not enter the table, and the table run stops too.
    raise SystemExit(f"{tag}: training stopped before step {n} (signal); no row written "
                     f"(workdir {workdir})")
  result = read_eval(workdir, n)
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rates = [r["perf/steps_per_second"] for r in map(json.loads, f)
             if "perf/steps_per_second" in r]
  row = {
      "recipe": recipe, "dataset": dataset, "variant": variant,
      "overrides": dict(overrides or {}), "loss": config.loss.name,
      "penalty": config.penalty.name, "penalty_weight": float(config.penalty.weight),
      "n_critic": int(config.train.n_critic), "num_steps": n, "seed": SEED,
      "batch_size": int(config.train.batch_size),
      "lr_schedule": _schedule(config.optimizer.critic.schedule,
                               config.optimizer.generator.schedule),
      "train_wall_s": round(wall - eval_s, 1),
      "steps_per_second": round(rates[-1], 2) if rates else None,
      "eval_s": round(eval_s, 1), "load_1min_during": load.stats(),
      "generators": result["generators"],
      "real_data_reference": result.get("real_data_reference"),
      "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
      "commit": run_meta.git_commit(),
  }
  for path in result.get("plots", []) if plots_dir else []:
    name = os.path.basename(path)
    if name.endswith("_critic.png"):
      suffix = "_ema" if name.endswith("_ema_critic.png") else ""
      label = f"_{variant}" if variant and variant != "ema" else ""
      os.makedirs(plots_dir, exist_ok=True)
      dest = os.path.join(plots_dir, f"{recipe}{label}_{dataset}{suffix}_critic.png")
      shutil.copyfile(path, dest)
      row.setdefault("plots", []).append(os.path.relpath(dest, ROOT))
  shutil.rmtree(workdir, ignore_errors=True)
  return row


def _modes(g: dict) -> str:
  if "modes_covered" not in g:
    return "-"
  return f"{g['modes_covered']}/{g['num_modes']} ({g['modes_covered_strict']})"


def toy_table(rows: list[dict]) -> str:
  """Markdown: one line per (row, generator), grouped by toy set; real data first."""
  out = ["| dataset | recipe | lr | modes (>= 1%) | % HQ | mode KL | sliced W2 | steps | "
         "train wall | steps/s | load |", "|---|---|---|---|---|---|---|---|---|---|---|"]
  order = {r: i for i, r in enumerate(RECIPES)}
  for dataset in TOY_SETS:
    sub = sorted((r for r in rows if r["dataset"] == dataset),
                 key=lambda r: (order.get(r["recipe"], 99), r["variant"]))
    if not sub:
      continue
    ref = sub[0]["real_data_reference"]
    out.append(f"| {dataset} | *real data (2nd sample)* | | {_modes(ref)} | "
               f"{_fmt(ref.get('hq_percent'), '.1f')} | {_fmt(ref.get('mode_kl'), '.3f')} | "
               f"{ref['sliced_wasserstein']:.4f} | | | | |")
    for r in sub:
      for label, g in r["generators"].items():
        name = r["recipe"] + (f" + EMA ({label} G)" if r["variant"] == "ema" else
                              f" ({r['variant']})" if r["variant"] else "")
        out.append(
            f"| {dataset} | {name} | {_row_schedule(r)} | {_modes(g)} | "
            f"{_fmt(g.get('hq_percent'), '.1f')} | {_fmt(g.get('mode_kl'), '.3f')} | "
            f"{_fmt(g.get('sliced_wasserstein'), '.4f')} | {r['num_steps']:,} | "
            f"{_minutes(r['train_wall_s'])} | {_fmt(r['steps_per_second'], '.1f')} | "
            f"{r['load_1min_during']['mean']:.1f} |")
  return "\n".join(out)


def toy_checks(rows: list[dict]) -> tuple[list[dict], list[dict]]:
  """The goal per (goal recipe, mode set), and EMA rows' raw G against the plain row's."""
  goal, det = [], []
  plain = {(r["recipe"], r["dataset"]): r for r in rows if not r["variant"]}
  for r in rows:
    if r["variant"] == "ema":
      p = plain.get((r["recipe"], r["dataset"]))
      if p is not None and p["num_steps"] == r["num_steps"] and p["seed"] == r["seed"]:
        det.append({"recipe": r["recipe"], "dataset": r["dataset"],
                    "raw_equal": p["generators"]["raw"] == r["generators"]["raw"]})
    elif r["recipe"] in GOAL_RECIPES and r["dataset"] in GOAL:
      g, (modes, hq) = r["generators"]["raw"], GOAL[r["dataset"]]
      goal.append({
          "recipe": r["recipe"] + (f" ({r['variant']})" if r["variant"] else ""),
          "dataset": r["dataset"], "target": f"{modes}/{modes} modes and >= {hq:g}% HQ",
          "value": f"{g['modes_covered']}/{g['num_modes']} modes, {g['hq_percent']:.1f}% HQ",
          "met": bool(g["modes_covered"] >= modes and g["hq_percent"] >= hq),
          "num_steps": r["num_steps"], "train_wall_s": r["train_wall_s"]})
  return goal, det


def toy_markdown(rows, meta) -> str:
  goal, det = toy_checks(rows)
  lines = [
      "# Toy-set table (benchmarks/recipes.py toy)", "",
      "Each row: one training run from scratch (seed and budget in the JSON), then "
      f"{meta['num_samples']:,} generated samples from the final generator. Modes: "
      "covered by >= 1 high-quality (HQ, within 3 std of the nearest mode) sample; in "
      "brackets the modes with >= 1% of the samples. Mode KL: KL of the HQ samples' "
      "mode histogram from uniform (nats). Sliced W2: sliced 2-Wasserstein distance to "
      "fresh real data (1,000 directions). Train wall: the whole training call "
      "(incl. compilation) on this shared 2-core CPU; load: mean 1-minute load "
      "average during the run.", "", toy_table(rows), "", "Anchors:", "",
      "| dataset | method (VEEGAN paper, Table 1) | modes | % HQ |", "|---|---|---|---|"]
  lines += [f"| {d} | {m} | {k:g} | {hq:g} |" for m, d, k, hq in ANCHORS]
  lines += ["", "## Goal", ""]
  lines += [f"- {c['recipe']} on {c['dataset']}: {c['target']}: {c['value']} -> "
            f"{'met' if c['met'] else 'NOT met'} ({c['num_steps']:,} steps, "
            f"{_minutes(c['train_wall_s'])} training)" for c in goal]
  lines += [f"- {d['recipe']} + EMA on {d['dataset']}: raw generator identical to the "
            f"plain run: {'yes' if d['raw_equal'] else 'NO'}" for d in det]
  return "\n".join(lines + ["", "## Run", "", "```json", json.dumps(meta, indent=1),
                            "```", ""])


def run_toy(args):
  recipes = _csv(args.only, RECIPES, "recipe")
  datasets = _csv(args.datasets, TOY_SETS, "dataset")
  plot_pairs = {tuple(p.split(":")) for p in args.plots.split(",") if p}
  overrides = {}
  for k, _, v in (item.partition("=") for item in args.set.split(",") if item.strip()):
    try:
      overrides[k.strip()] = json.loads(v.strip())
    except json.JSONDecodeError:
      overrides[k.strip()] = v.strip()
  if overrides and not args.variant:
    raise SystemExit("error: --set needs --variant (a label for those rows)")
  jax.config.update("jax_compilation_cache_dir",
                    os.path.expanduser(os.path.join("~", ".cache", "jaxgan", "xla")))
  todo = [(r, d, False) for d in datasets for r in recipes]
  if EMA_ROW[1] in datasets and not overrides:
    todo.append((*EMA_ROW, True))
  path = os.path.join(args.out, "toy_table.json")
  rows = []
  if not args.fresh and os.path.exists(path):
    with open(path) as f:
      rows = json.load(f).get("rows", [])
  t_start, load_start = time.time(), os.getloadavg()
  for recipe, dataset, ema in todo:
    plots = (os.path.join(args.out, "toy_plots")
             if (recipe, dataset) in plot_pairs and not ema else None)
    row = toy_row(recipe, dataset, steps=args.steps, ema=ema, workroot=args.workroot,
                  plots_dir=plots, overrides=overrides, variant=args.variant)
    key = (row["recipe"], row["dataset"], row["variant"])
    rows = [r for r in rows if (r["recipe"], r["dataset"], r["variant"]) != key] + [row]
    meta = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {run_meta.cpu_name()}",
        "python": platform.python_version(), "jax": jax.__version__,
        "backend": jax.default_backend(),
        "num_samples": int(toy_config(recipe, dataset, steps=None,
                                      ema=False).eval.num_samples),
        "command": " ".join(sys.argv),
        "this_invocation": {
            "runs": [f"{r}{'+ema' if e else ''}:{d}" for r, d, e in todo],
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_now": [round(x, 2) for x in os.getloadavg()],
            "wall_s": round(time.time() - t_start, 1)},
        "commit": run_meta.git_commit(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "note": "rows may come from different invocations; each row has its own "
                "date_utc, commit and load_1min_during",
    }
    goal, det = toy_checks(rows)
    # Written after every run, so an interrupted table keeps what finished.
    run_meta.write(args.out, "toy_table", {"meta": meta, "goal": goal,
                                           "ema_raw_matches_plain": det, "rows": rows},
                   toy_markdown(rows, meta))
  print(toy_table(rows))


# --- cifar: cifar_run -------------------------------------------------------------------

NICE = 10  # the training run's niceness: it shares the machine
_CLOCK = r"(\d\d:\d\d:\d\d)"
_LOG_LINES = {"compiled": re.compile(_CLOCK + r" train step compiled \(([\d.]+)s\)"),
              "classifier": re.compile(_CLOCK + r" evaluation: classifier (\w+) \(([\d.]+)s"),
              "eval": re.compile(_CLOCK + r" eval at step (\d+) \(([\d.]+)s\)")}
_COLUMNS = (("fd_", "classifier FD"), ("kid_", "KID"), ("classes_covered", "classes"),
            ("mean_max_prob", "confidence"))


def read_log(path: str) -> dict:
  """Clock times of the launch log: compile, classifier, each evaluation (since start)."""
  out, first = {"evals": {}}, None
  with open(path) as f:
    for line in f:
      clock = re.match(_CLOCK, line)
      if clock is None:
        continue
      h, m, s = map(int, clock.group(1).split(":"))
      first = 3600 * h + 60 * m + s if first is None else first
      elapsed = (3600 * h + 60 * m + s - first) % 86400  # a run crossing midnight
      if hit := _LOG_LINES["compiled"].match(line):
        out["compile_s"] = float(hit.group(2))
      elif hit := _LOG_LINES["classifier"].match(line):
        out["classifier"] = (hit.group(2), float(hit.group(3)))
      elif hit := _LOG_LINES["eval"].match(line):
        out["evals"][int(hit.group(2))] = (elapsed, float(hit.group(3)))
  return out


def _cells(values: dict) -> list[str]:
  cells = []
  for prefix, _ in _COLUMNS:
    key = next((k for k in values if k.startswith(prefix) and "stderr" not in k), None)
    value = values.get(key) if key else None
    cell = "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
    if prefix == "kid_" and key and values.get(key.replace("kid_", "kid_stderr_")):
      cell += f" ± {values[key.replace('kid_', 'kid_stderr_')]:.4g}"
    cells.append(cell)
  return cells


def cifar_section(workdir: str, out: str) -> list[str]:
  """The report's lines for one run (copying its last sample grid into `out`)."""
  base = workdir.rstrip("/")
  name = os.path.basename(base).removeprefix("run_")
  with open(os.path.join(workdir, "config.json")) as f:
    config = json.load(f)
  log = read_log(base + ".log")
  steps = sorted(int(m.group(1)) for m in map(re.compile(r"step_(\d+)\.json").fullmatch,
                                              os.listdir(os.path.join(workdir, "eval"))) if m)
  evals = [read_eval(workdir, s) for s in steps]
  lines = [f"## {name}", ""]
  if os.path.exists(base + ".cmd"):
    with open(base + ".cmd") as f:
      lines += ["```", f.read().strip(), "```", ""]
  model, tr, opt = config["model"], config["train"], config["optimizer"]
  lines += [
      f"- recipe: loss {config['loss']['name']}, penalty {config['penalty']['name']} "
      f"(weight {config['penalty']['weight']:g}), arch {model['arch']} (critic width "
      f"{model['width']}, generator width {model['generator_width'] or model['width']}, "
      f"spectral norm {model['spectral_norm']}, {model['dtype']})",
      f"- batch {tr['batch_size']} (generator {tr['generator_batch_size'] or tr['batch_size']})"
      f", n_critic {tr['n_critic']}, dequantisation {tr['dequantization']:g}, "
      f"{tr['num_steps']} generator steps; Adam {opt['generator']['learning_rate']:g} "
      f"betas ({opt['generator']['b1']:g}, {opt['generator']['b2']:g}), "
      f"{opt['generator']['schedule']} schedule over {opt['decay_steps']} steps",
      f"- data: {config['dataset']['path']} at {config['dataset']['image_size']}x"
      f"{config['dataset']['image_size']}x3; evaluation: {config['eval']['num_samples']} "
      f"samples against the folder's held-out sixth"]
  if "classifier" in log:
    lines.append(f"- evaluation classifier {log['classifier'][0]} in "
                 f"{log['classifier'][1]:.0f} s (once, inside the first evaluation)")
  if "compile_s" in log:
    lines.append(f"- train step compiled in {log['compile_s']:.0f} s")
  loads = []
  if os.path.exists(base + ".load"):
    with open(base + ".load") as f:
      loads = [float(line.split()[1]) for line in f if len(line.split()) == 2]
  if loads:
    lines.append(f"- machine load (1-min average, sampled each minute, 2 cores shared with "
                 f"other jobs): median {statistics.median(loads):.1f}, range "
                 f"{min(loads):.1f}-{max(loads):.1f}: wall times are the share of the "
                 f"CPU the run got, not its speed on an idle machine")
  lines += ["", "| step | wall clock since launch | eval time | " +
            " | ".join(h for _, h in _COLUMNS) + " |", "|---" * (3 + len(_COLUMNS)) + "|"]
  for result in evals:
    step = result["step"]
    wall, seconds = log["evals"].get(step, (None, None))
    for label, values in result["generators"].items():
      wall_cell = str(datetime.timedelta(seconds=wall)) if wall is not None else ""
      lines.append(f"| {step if label == 'raw' else f'{step} ({label})'} | {wall_cell} | "
                   f"{'' if seconds is None else f'{seconds:.4g}'} s | "
                   + " | ".join(_cells(values)) + " |")
  if evals and "real_data_reference" in evals[-1]:
    lines.append("| real training images | | | " +
                 " | ".join(_cells(evals[-1]["real_data_reference"])) + " |")
  if evals:
    lines += ["", f"Features: the {evals[-1].get('feature_extractor', '?')}."]
  written = sorted(int(m.group(1)) for m in map(
      re.compile(r"step_(\d+)\.png").fullmatch, os.listdir(os.path.join(workdir, "samples")))
                   if m)
  for step in written[-1:]:
    dst = f"cifar_run_{name}_step_{step}.png"
    shutil.copyfile(os.path.join(workdir, "samples", f"step_{step:06d}.png"),
                    os.path.join(out, dst))
    lines += ["", f"Samples at step {step} (fixed latents): ![{name} step {step}]({dst})"]
  return lines + [""]


def run_cifar(args):
  if not args.report_only:
    if not args.data or len(args.workdir) != 1:
      raise SystemExit("error: training needs --data and one --workdir")
    base = args.workdir[0].rstrip("/")
    flags = [*args.launch_args, f"--config.dataset.path={args.data}",
             f"--workdir={args.workdir[0]}"]
    with open(base + ".cmd", "w") as f:
      f.write(" ".join(["nice", "-n", str(NICE), "python", "launch.py", *flags]) + "\n")
    with open(base + ".log", "a") as log, run_meta.LoadSampler(60.0, base + ".load"):
      code = subprocess.run(["nice", "-n", str(NICE), sys.executable, "launch.py",
                             *flags], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
    if code:
      print(f"launch.py exited with {code}; see {base}.log", file=sys.stderr)
  os.makedirs(args.out, exist_ok=True)
  lines = ["# Short CIFAR-10 runs on this CPU (benchmarks/recipes.py cifar)", "",
           "The evaluation classifier is jaxgan's small CIFAR classifier trained on the "
           "folder, not Inception: FD and KID here compare jaxgan runs with each other, "
           "not with published FIDs. The JPEGs are re-encodings of CIFAR-10.", ""]
  lines += [f"- {note}" for note in args.note] + ([""] if args.note else [])
  for workdir in args.workdir:
    lines += cifar_section(workdir, args.out)
  lines += ["## Report", "", "```json", json.dumps({
      "commit": run_meta.git_commit(), "machine": f"{os.cpu_count()} CPUs, "
      f"{run_meta.cpu_name()}", "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
  }, indent=1), "```", ""]
  with open(os.path.join(args.out, "cifar_run.md"), "w") as f:
    f.write("\n".join(lines))
  print("\n".join(lines))


# --- conditional: conditional_digits ----------------------------------------------------

CONDITIONAL = ("acgan", "projection")
CONDITIONAL_STEPS = 10_000  # the digits recipes' budget (jaxgan/base_config.py)


def judge():
  """A logistic regression on real digits (as tests/test_default_run.py), in the
  digits builder's [-1, 1] scaling; and its held-out accuracy."""
  # pylint: disable-next=import-outside-toplevel
  from sklearn import datasets, linear_model, model_selection
  digits = datasets.load_digits()
  x = np.round(digits.data * 255 / 16) / 127.5 - 1
  x_train, x_test, y_train, y_test = model_selection.train_test_split(
      x, digits.target, test_size=0.3, random_state=0)
  model = linear_model.LogisticRegression(max_iter=2000, C=0.1).fit(x_train, y_train)
  return model, float(model.score(x_test, y_test))


def run_conditional(args):
  model, judge_accuracy = judge()
  results = {"cpu": run_meta.cpu_name(), "commit": run_meta.git_commit(),
             "judge_held_out_accuracy": judge_accuracy, "variants": {}}
  n = args.steps
  for variant in CONDITIONAL:
    workdir = os.path.join(args.root, variant)
    wall_file = workdir + ".wall.json"
    if not (os.path.exists(os.path.join(workdir, "eval", f"step_{n:06d}.json"))
            and os.path.exists(wall_file)):
      before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
      t0 = time.monotonic()
      launch(f"--config=configs/wgan_gp.py:conditional={variant}", f"--workdir={workdir}",
             f"--config.train.num_steps={n}", check=True, capture_output=True, text=True)
      run_meta.write(os.path.dirname(wall_file), os.path.basename(workdir) + ".wall",
                     {"wall_seconds": round(time.monotonic() - t0, 1), "uptime_before": before})
    with open(wall_file) as f:
      timing = json.load(f)
    evaluation = read_eval(workdir, n)
    raw = evaluation["generators"]["raw"]
    # The judge: 1,000 samples (100 per class) of the final checkpoint.
    launch(f"--workdir={workdir}", "--mode=sample", "--config.log.num_samples=1000",
           check=True, capture_output=True, text=True)
    stem = os.path.join(workdir, "samples", f"step_{n:06d}_n1000")
    samples, labels = np.load(stem + ".npy"), np.load(stem + "_labels.npy")
    hits = model.predict(samples.reshape(len(samples), -1)) == labels
    per_class = [float(np.mean(hits[labels == k])) for k in range(10)]
    results["variants"][variant] = dict(
        timing, evaluation_classifier={k: v for k, v in raw.items() if k.startswith(
            ("requested_class", "intra_fd", "fd_", "classes_covered"))},
        real_data_reference={k: evaluation["real_data_reference"][k]
                             for k in ("requested_class_accuracy", "intra_fd_digits_classifier",
                                       "fd_digits_classifier")},
        logistic_regression_judge={"accuracy": float(np.mean(hits)),
                                   "min_class": min(per_class), "per_class": per_class})
    os.makedirs(args.out, exist_ok=True)
    shutil.copy(os.path.join(workdir, "samples", f"step_{n:06d}.png"),
                os.path.join(args.out, f"conditional_digits_{variant}.png"))
  run_meta.write(args.out, "conditional_digits", results)
  print(json.dumps(results, indent=2))


# --- seeds: population_seeds ------------------------------------------------------------

SEED_METRICS = ("fd_digits_classifier", "classes_covered")


def seeds_row(name, seeds, steps, workdir, data_dir) -> dict:
  """Trains (or finds complete) one recipe's population; its table row."""
  over = {"population.size": seeds, "dataset.data_dir": data_dir}
  config = run_meta.recipe_config(name, "dataset=digits", over)
  if steps:
    config.train.num_steps = steps
  config.log.eval_every = config.train.num_steps  # one evaluation, at the end
  seconds, _ = train(config, workdir)
  result = read_eval(workdir, config.train.num_steps)
  summary = result["groups"][0]["summary"]["raw"]
  per_seed = {m["seed"]: {k: m["generators"]["raw"].get(k) for k in SEED_METRICS}
              for m in result["members"] if "generators" in m}
  # Real training digits scored like a generator (in the first member's evaluation).
  with open(result["members"][0]["path"]) as f:
    reference = json.load(f).get("real_data_reference", {})
  return {"recipe": name, "steps": config.train.num_steps, "members": seeds,
          "summary": {k: summary[k] for k in SEED_METRICS}, "per_seed": per_seed,
          "diverged": result["diverged"], "best": result["best"]["raw"],
          "real_data_reference": {k: reference.get(k) for k in SEED_METRICS},
          "wall_s_this_session": seconds,
          "eval_json": os.path.join(workdir, "eval",
                                    f"step_{config.train.num_steps:06d}.json")}


def seeds_table(rows) -> str:
  lines = ["| recipe (digits) | steps | seeds | FD (digits classifier), mean +- 95% CI | "
           "classes covered (of 10), mean +- 95% CI | FD per seed | best seed (FD) | diverged |",
           "|---|---|---|---|---|---|---|---|"]
  if rows:
    ref = rows[0]["real_data_reference"]
    lines.append(f"| *real training digits* | | | {ref['fd_digits_classifier']:.1f} | "
                 f"{ref['classes_covered']} | | | |")
  for r in rows:
    fd, cov = r["summary"]["fd_digits_classifier"], r["summary"]["classes_covered"]
    per = ", ".join(f"{v['fd_digits_classifier']:.1f}" for _, v in sorted(r["per_seed"].items()))
    lines.append(
        f"| {r['recipe']} | {r['steps']:,} | {fd['n']} | {fd['mean']:.1f} +- {fd['ci95']:.1f} | "
        f"{cov['mean']:.2f} +- {cov['ci95']:.2f} | {per} | "
        f"{r['best']['seed']} ({r['best']['value']:.1f}) | {len(r['diverged']) or 'none'} |")
  return "\n".join(lines)


def run_seeds(args):
  rows = []
  meta = {"commit": run_meta.git_commit(), "cpu": run_meta.cpu_name(), "jax": jax.__version__,
          "started": time.strftime("%Y-%m-%d %H:%M"), "load_before": os.getloadavg()}
  for name in _csv(args.recipes, RECIPES, "recipe"):
    rows.append(seeds_row(name, args.seeds, args.steps,
                          os.path.join(args.workdir_root, name), args.data_dir))
    print(json.dumps(rows[-1]), flush=True)
    meta["load_after"] = os.getloadavg()
    run_meta.write(args.out, "population_seeds", {"meta": meta, "rows": rows},
                   f"Seed table ({meta}).\n\n{seeds_table(rows)}\n")
  print(seeds_table(rows))


# --- drift: population_drift_<method> ---------------------------------------------------


def _trained(config, checkpoints):
  """Yields (step, Setup, host state) of `config`'s runs at `checkpoints` (ascending),
  on one device, set up, fed and stepped as a run is."""
  run = runs.setup(config, devices=jax.devices()[:1])
  step, state = run.compile(run.init_state())
  items = run.open_data()
  batch = run.global_batch(next(items))
  for t in range(1, max(checkpoints) + 1):
    state, _ = step(state, batch)
    batch = run.global_batch(next(items))
    if t in checkpoints:
      yield t, run, mesh.to_host(state)


def _rel_l2(a, b) -> float:
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  num = sum(float(np.sum((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2))
            for x, y in zip(la, lb))
  return (num / sum(float(np.sum(np.asarray(x, np.float64) ** 2)) for x in la)) ** 0.5


def drift_rows(recipe, checkpoints, data_dir, method):
  """Member i of a 2-seed population against the single run of seed i."""
  over = {"population.size": 2, "population.method": method, "dataset.data_dir": data_dir}
  config = run_meta.recipe_config(recipe, "dataset=digits", over)
  pops = list(_trained(config, checkpoints))
  members = pops[0][1].runs.members
  singles = [list(_trained(m.config, checkpoints)) for m in members]
  z = sample.fixed_latents(0, 100, config.model.z_dim)
  rows = []
  for k, (t, pop, pstate) in enumerate(pops):
    row = {"recipe": recipe, "steps": t,
           "method": population.resolve_method(config),
           "members": []}
    outs = []
    for i, member in enumerate(members):
      _, single_run, single = singles[i][k]
      state = pop.runs.member_state(pstate, member.index)
      outs.append(sample.generator_output(single_run.spec, single, z))
      row["members"].append({
          "member": member.index,
          "bitwise": all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in
                         zip(jax.tree.leaves(single), jax.tree.leaves(state))),
          "generator_rel_l2": _rel_l2(single.generator_params, state.generator_params),
          "critic_rel_l2": _rel_l2(single.critic_params, state.critic_params),
          "samples_max_abs_diff": float(np.max(np.abs(
              outs[-1] - sample.generator_output(pop.spec, state, z))))})
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
                   f"{m['bitwise']} | {m['generator_rel_l2']:.2g} | {m['critic_rel_l2']:.2g} "
                   f"| {m['samples_max_abs_diff']:.2g} | "
                   f"{r['seed0_vs_seed1_samples_max_abs_diff']:.2g} |")
  return "\n".join(lines)


def run_drift(args):
  jax.config.update("jax_enable_compilation_cache", False)
  rows, checkpoints = [], sorted(int(t) for t in args.drift.split(","))
  for recipe in _csv(args.recipes, RECIPES, "recipe"):
    rows += drift_rows(recipe, checkpoints, args.data_dir, args.method)
    print(json.dumps(rows[-len(checkpoints):]), flush=True)
  meta = {"commit": run_meta.git_commit(), "cpu": run_meta.cpu_name(),
          "jax": jax.__version__, "devices": str(jax.devices()),
          "date": time.strftime("%Y-%m-%d %H:%M")}
  table = drift_table(rows)
  run_meta.write(args.out, f"population_drift_{rows[0]['method']}", {"meta": meta, "rows": rows},
                 f"Drift of population members from their single runs ({meta}).\n\n{table}\n")
  print(table)


# --- Command line -----------------------------------------------------------------------


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  tables = parser.add_subparsers(dest="command", required=True)
  toy = tables.add_parser("toy", help="toy_table: every recipe on the toy sets")
  toy.add_argument("--only", default=",".join(RECIPES), help="recipes, comma-separated")
  toy.add_argument("--datasets", default=",".join(TOY_SETS), help="toy sets, comma-separated")
  toy.add_argument("--steps", type=int, default=None,
                   help="generator steps of every run (default: each recipe's toy budget)")
  toy.add_argument("--plots", default="wgan_gp:25gaussians,dragan:25gaussians",
                   help="recipe:dataset pairs whose critic plots go to <out>/toy_plots")
  toy.add_argument("--fresh", action="store_true", help="discard the rows in toy_table.json")
  toy.add_argument("--set", default="", help="config overrides of every run, e.g. "
                   "penalty.weight=0.1,train.n_critic=5 (needs --variant)")
  toy.add_argument("--variant", default="", help="label of the rows with --set")
  toy.add_argument("--workroot", default=None, help="parent of the temporary workdirs")
  cifar = tables.add_parser("cifar", help="cifar_run: a short CIFAR-10 run and its report")
  cifar.add_argument("--workdir", required=True, action="append",
                     help="the run's directory; repeat it to report several runs")
  cifar.add_argument("--data", help="the CIFAR-10 JPEG class folders (train/)")
  cifar.add_argument("--report-only", action="store_true")
  cifar.add_argument("--note", action="append", default=[],
                     help="a line for the report (what the tables cannot say); repeatable")
  cifar.add_argument("launch_args", nargs="*", help="launch.py flags, after --")
  cond = tables.add_parser("conditional", help="conditional_digits: acgan and projection")
  cond.add_argument("--root", default=os.path.join(ROOT, "runs", "conditional_digits"))
  cond.add_argument("--steps", type=int, default=CONDITIONAL_STEPS,
                    help="generator steps (smoke runs); the table is the recipes' budget")
  seeds = tables.add_parser("seeds", help="population_seeds: recipes x seeds on digits")
  seeds.add_argument("--recipes", default=",".join(RECIPES))
  seeds.add_argument("--seeds", type=int, default=8)
  seeds.add_argument("--steps", type=int, default=0, help="0 = the recipe's budget")
  seeds.add_argument("--workdir_root", default="/tmp/jaxgan_population_seeds")
  drift = tables.add_parser("drift", help="population_drift_<method>: members vs single runs")
  drift.add_argument("--drift", required=True, help="step counts, e.g. 10,100,1000")
  drift.add_argument("--recipes", default=",".join(RECIPES))
  drift.add_argument("--method", default="auto", help="population.method of the population")
  for sub in (toy, cifar, cond, seeds, drift):
    sub.add_argument("--out", default=os.path.join(HERE, "results"))
  for sub in (seeds, drift):
    sub.add_argument("--data_dir", default="", help="TFDS data_dir ('' = TFDS default)")
  args = parser.parse_args()
  handler = logging.StreamHandler(sys.stdout)
  handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
  logger.addHandler(handler)
  logger.setLevel(logging.INFO)
  logger.propagate = False
  {"toy": run_toy, "cifar": run_cifar, "conditional": run_conditional, "seeds": run_seeds,
   "drift": run_drift}[args.command](args)


if __name__ == "__main__":
  main()
