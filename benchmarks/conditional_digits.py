"""The conditional digits recipes on their default budget: is each sample the class asked for?

    python benchmarks/conditional_digits.py --root=runs/conditional_digits

For each variant of `configs/wgan_gp.py:conditional=...` (acgan, projection) this
trains the recipe as the README command does (10,000 generator steps on the 8x8
digits, evaluated ten times), unless ROOT/<variant> already holds the finished run
and ROOT/<variant>.wall.json its wall time, then reads:

  - the run's last evaluation (eval/step_010000.json): the evaluation classifier's
    accuracy on 2,500 samples against the class each was generated for (250 per
    class), per class, and the per-class Frechet distances of its features;
  - a second judge the GAN and the evaluation classifier never share code with: a
    logistic regression fitted on 70% of scikit-learn's digits (as
    tests/test_default_run.py), scoring 1,000 samples (100 per class) drawn by
    `launch.py --mode=sample --config.log.num_samples=1000`.

It writes benchmarks/results/conditional_digits.{json,md} and copies each run's
final per-class grid to benchmarks/results/conditional_digits_<variant>.png. Wall
times include start-up and the ten evaluations; note the machine load (the script
records `uptime` before each training run).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_meta  # noqa: E402

ROOT = run_meta.ROOT
VARIANTS = ("acgan", "projection")
STEPS = 10_000  # the digits recipes' budget (configs/common.py)


def _launch(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT, env=env, check=True,
                        capture_output=True, text=True)


def _uptime() -> str:
  return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def train(variant: str, workdir: str) -> dict:
  """Trains the variant (unless done); returns {"wall_seconds", "uptime_before"}."""
  wall_file = workdir + ".wall.json"
  if os.path.exists(os.path.join(workdir, "eval", f"step_{STEPS:06d}.json")) and os.path.exists(
      wall_file):
    with open(wall_file) as f:
      return json.load(f)
  before = _uptime()
  t0 = time.monotonic()
  _launch(f"--config=configs/wgan_gp.py:conditional={variant}", f"--workdir={workdir}")
  record = {"wall_seconds": round(time.monotonic() - t0, 1), "uptime_before": before}
  with open(wall_file, "w") as f:
    json.dump(record, f)
  return record


def judge():
  """A logistic regression on real digits, in the builder's [-1, 1] scaling."""
  digits = load_digits()
  x = np.round(digits.data * 255 / 16) / 127.5 - 1
  x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.3,
                                                      random_state=0)
  model = LogisticRegression(max_iter=2000, C=0.1).fit(x_train, y_train)
  return model, float(model.score(x_test, y_test))


def judged(model, workdir: str) -> dict:
  """The judge's accuracy on 1,000 samples against their requested classes."""
  _launch(f"--workdir={workdir}", "--mode=sample", "--config.log.num_samples=1000")
  stem = os.path.join(workdir, "samples", f"step_{STEPS:06d}_n1000")
  samples, labels = np.load(stem + ".npy"), np.load(stem + "_labels.npy")
  hits = model.predict(samples.reshape(len(samples), -1)) == labels
  per_class = [float(np.mean(hits[labels == k])) for k in range(10)]
  return {"accuracy": float(np.mean(hits)), "min_class": min(per_class),
          "per_class": per_class}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--root", default=os.path.join(ROOT, "runs", "conditional_digits"))
  parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
  args = parser.parse_args()
  model, judge_accuracy = judge()
  results = {"cpu": run_meta.cpu_name(), "commit": run_meta.git_commit(),
             "judge_held_out_accuracy": judge_accuracy, "variants": {}}
  for variant in VARIANTS:
    workdir = os.path.join(args.root, variant)
    timing = train(variant, workdir)
    with open(os.path.join(workdir, "eval", f"step_{STEPS:06d}.json")) as f:
      evaluation = json.load(f)
    raw = evaluation["generators"]["raw"]
    keep = {k: v for k, v in raw.items()
            if k.startswith(("requested_class", "intra_fd", "fd_", "classes_covered"))}
    results["variants"][variant] = dict(
        timing, evaluation_classifier=keep,
        real_data_reference={k: evaluation["real_data_reference"][k]
                             for k in ("requested_class_accuracy", "intra_fd_digits_classifier",
                                       "fd_digits_classifier")},
        logistic_regression_judge=judged(model, workdir))
    shutil.copy(os.path.join(workdir, "samples", f"step_{STEPS:06d}.png"),
                os.path.join(args.out, f"conditional_digits_{variant}.png"))
  with open(os.path.join(args.out, "conditional_digits.json"), "w") as f:
    json.dump(results, f, indent=2)
  print(json.dumps(results, indent=2))


if __name__ == "__main__":
  main()
