"""The seed table: every recipe on digits with 8 seeds, one population run per recipe.

    python benchmarks/population_seeds.py [--recipes wgan,wgan_gp,dragan,lsgan,nsgan]
        [--seeds 8] [--steps 0] [--workdir_root /tmp/jaxgan_population_seeds]
        [--data_dir ''] [--out benchmarks/results]

Each recipe trains as `python launch.py --config=configs/RECIPE.py
--config.population.size=8` would (jaxgan.loop.train_and_evaluate: seeds 0-7 in
one compiled step, the recipe's own budget unless --steps is given), evaluated
once at its last step (log.eval_every = the run's length) with the digits
classifier: 2,500 samples per member, the classifier's Frechet distance
(fd_digits_classifier) and the classes covered (of 10). The table gives each
number's mean over the seeds with its 95% confidence interval (Student's t, n-1
degrees of freedom, as jaxgan.population.summarize) and the per-seed values.
A run already complete in --workdir_root is not retrained (train_and_evaluate
returns at once), so an interrupted table resumes where it stopped.

Takes long: on the 2-core CPU, 10,000 steps x 8 members per recipe (about an hour
for the n_critic = 5 recipes under load). Output: <out>/population_seeds.json and
<out>/population_seeds.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import jax  # noqa: E402

import run_meta  # noqa: E402  (benchmarks/, on sys.path as the script's dir)

from configs import dragan, lsgan, nsgan, wgan, wgan_gp  # noqa: E402
from jaxgan import cli, loop  # noqa: E402

RECIPES = {"wgan": wgan, "wgan_gp": wgan_gp, "dragan": dragan, "lsgan": lsgan,
           "nsgan": nsgan}
METRICS = ("fd_digits_classifier", "classes_covered")


def run_recipe(name, seeds, steps, workdir, data_dir) -> dict:
  """Trains (or finds complete) one recipe's population; returns its table row."""
  config = RECIPES[name].get_config("dataset=digits")
  config.population.size = seeds
  if steps:
    config.train.num_steps = steps
  config.log.eval_every = config.train.num_steps  # one evaluation, at the end
  config.dataset.data_dir = data_dir
  t0 = time.monotonic()
  loop.train_and_evaluate(config, workdir)
  seconds = time.monotonic() - t0
  path = os.path.join(workdir, "eval", f"step_{config.train.num_steps:06d}.json")
  with open(path) as f:
    result = json.load(f)
  summary = result["groups"][0]["summary"]["raw"]
  per_seed = {m["seed"]: {k: m["generators"]["raw"].get(k) for k in METRICS}
              for m in result["members"] if "generators" in m}
  return {"recipe": name, "steps": config.train.num_steps, "members": seeds,
          "summary": {k: summary[k] for k in METRICS}, "per_seed": per_seed,
          "diverged": result["diverged"], "best": result["best"]["raw"],
          "real_data_reference": _reference(result),
          "wall_s_this_session": seconds, "eval_json": path}


def _reference(result) -> dict:
  """Real training digits scored like a generator (from the first member's evaluation)."""
  with open(result["members"][0]["path"]) as f:
    reference = json.load(f).get("real_data_reference", {})
  return {k: reference.get(k) for k in METRICS}


def table(rows) -> str:
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
    best = r["best"]
    lines.append(
        f"| {r['recipe']} | {r['steps']:,} | {fd['n']} | {fd['mean']:.1f} +- {fd['ci95']:.1f} | "
        f"{cov['mean']:.2f} +- {cov['ci95']:.2f} | {per} | "
        f"{best['seed']} ({best['value']:.1f}) | {len(r['diverged']) or 'none'} |")
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--recipes", default=",".join(RECIPES))
  parser.add_argument("--seeds", type=int, default=8)
  parser.add_argument("--steps", type=int, default=0, help="0 = the recipe's budget")
  parser.add_argument("--workdir_root", default="/tmp/jaxgan_population_seeds")
  parser.add_argument("--data_dir", default="", help="TFDS data_dir ('' = TFDS default)")
  parser.add_argument("--out", default=os.path.join(HERE, "results"))
  parser.add_argument("--table", action="store_true",
                      help="only rewrite <out>/population_seeds.md from its .json")
  args = parser.parse_args()
  if args.table:
    with open(os.path.join(args.out, "population_seeds.json")) as f:
      saved = json.load(f)
    with open(os.path.join(args.out, "population_seeds.md"), "w") as f:
      f.write(f"Seed table ({saved['meta']}).\n\n{table(saved['rows'])}\n")
    return
  cli.setup_logging(0, 1, verbose=False)
  logging.getLogger("jaxgan").info("seed table: %s", vars(args))
  rows = []
  meta = {"commit": run_meta.git_commit(), "cpu": run_meta.cpu_name(), "jax": jax.__version__,
          "started": time.strftime("%Y-%m-%d %H:%M"), "load_before": os.getloadavg()}
  for name in args.recipes.split(","):
    rows.append(run_recipe(name, args.seeds, args.steps,
                           os.path.join(args.workdir_root, name), args.data_dir))
    print(json.dumps(rows[-1]), flush=True)
    meta["load_after"] = os.getloadavg()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "population_seeds.json"), "w") as f:
      json.dump({"meta": meta, "rows": rows}, f, indent=2)
    with open(os.path.join(args.out, "population_seeds.md"), "w") as f:
      f.write(f"Seed table ({meta}).\n\n{table(rows)}\n")
  print(table(rows))


if __name__ == "__main__":
  main()
