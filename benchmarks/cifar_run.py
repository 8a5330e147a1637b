"""A short real-data CIFAR-10 run, and its report: evaluations, wall times, sample grids.

The CIFAR-10 training images as JPEGs in class folders (a labelled folder: the
evaluation classifier trains on 5/6 of it and scores on the rest) train a recipe
for as long as a CPU allows, evaluating every log.eval_every steps:

    python benchmarks/cifar_run.py --data=/tmp/cifar10-jpeg/train --workdir=/tmp/sngan_cifar \
        --nice=10 -- --config=configs/sngan.py:dataset=folder --config.model.width=16 \
        --config.model.generator_width=32 --config.train.num_steps=1000 \
        --config.log.eval_every=200 --config.log.sample_every=200
    python benchmarks/cifar_run.py --workdir=/tmp/sngan_cifar --report-only

The first form runs launch.py (everything after `--`, plus --workdir and
--config.dataset.path) under `nice`, writing its output to WORKDIR.log, the
command to WORKDIR.cmd and the machine's 1-minute load average, sampled each
minute, to WORKDIR.load; then it writes the report. --report-only rewrites the
report from finished (or stopped) runs; --workdir may be repeated, one section
per run. The report, <out>/cifar_run.md, holds per run the command, its
settings, the machine's load, and one table row per evaluation: the step, the
wall-clock time since launch and the classifier numbers of jaxgan/evaluate.py
(Frechet distance and KID on the evaluation classifier's features, classes
covered, mean confidence), with the real-data reference row; the sample grids of
the steps in --grids (default: the last) are copied beside it as
cifar_run_<run>_step_N.png. The
classifier is jaxgan's small CIFAR classifier, not Inception: the numbers compare
jaxgan runs with each other, not with published FIDs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import run_meta  # noqa: E402  (benchmarks/)

_TIME = r"(\d\d:\d\d:\d\d)"
_EVAL = re.compile(_TIME + r" eval at step (\d+) \(([\d.]+)s\)")
_START = re.compile(_TIME + r" training: ")
_COMPILED = re.compile(_TIME + r" train step compiled \(([\d.]+)s\)")
_CLASSIFIER = re.compile(_TIME + r" evaluation: classifier (\w+) \(([\d.]+)s")
_COLUMNS = (("fd_", "classifier FD"), ("kid_", "KID"), ("classes_covered", "classes"),
            ("mean_max_prob", "confidence"))


def _seconds(clock: str) -> int:
  h, m, s = map(int, clock.split(":"))
  return 3600 * h + 60 * m + s


def read_log(path: str) -> dict:
  """Clock times of the launch log: start, compile, classifier, each evaluation."""
  out = {"evals": {}}
  first = None
  with open(path) as f:
    for line in f:
      clock = re.match(_TIME, line)
      if clock is None:
        continue
      now = _seconds(clock.group(1))
      if first is None:
        first = now
      elapsed = (now - first) % 86400  # a run crossing midnight
      if m := _START.match(line):
        out["start_s"] = elapsed
      elif m := _COMPILED.match(line):
        out["compile_s"] = float(m.group(2))
      elif m := _CLASSIFIER.match(line):
        out["classifier"] = (m.group(2), float(m.group(3)))
      elif m := _EVAL.match(line):
        out["evals"][int(m.group(2))] = (elapsed, float(m.group(3)))
  return out


def read_loads(path: str) -> list[float]:
  """1-minute load averages sampled during the run (WORKDIR.load: "time load" lines)."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [float(line.split()[1]) for line in f if len(line.split()) == 2]


class LoadSampler:
  """Appends the 1-minute load average to `path` every `every` seconds while open."""

  def __init__(self, path: str, every: float = 60.0):
    import threading  # pylint: disable=import-outside-toplevel
    self.path, self.every = path, every
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True)

  def _run(self):
    while not self._stop.is_set():
      with open(self.path, "a") as f:
        f.write(f"{time.time():.0f} {os.getloadavg()[0]:.2f}\n")
      self._stop.wait(self.every)

  def __enter__(self):
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()
    return False


def _cell(value) -> str:
  if value is None:
    return ""
  if isinstance(value, float):
    return f"{value:.4g}"
  return str(value)


def _row(values: dict) -> list[str]:
  cells = []
  for prefix, _ in _COLUMNS:
    key = next((k for k in values if k.startswith(prefix) and "stderr" not in k), None)
    cell = _cell(values.get(key)) if key else ""
    if prefix == "kid_" and key and values.get(key.replace("kid_", "kid_stderr_")):
      cell += f" ± {_cell(values[key.replace('kid_', 'kid_stderr_')])}"
    cells.append(cell)
  return cells


def section(workdir: str, out: str, grids) -> list[str]:
  """The report's lines for one run (copying its sample grids into `out`)."""
  base = workdir.rstrip("/")
  name = os.path.basename(base).removeprefix("run_")
  with open(os.path.join(workdir, "config.json")) as f:
    config = json.load(f)
  log = read_log(base + ".log")
  evals = []
  eval_dir = os.path.join(workdir, "eval")
  for entry in sorted(os.listdir(eval_dir)):
    if re.fullmatch(r"step_\d+\.json", entry):
      with open(os.path.join(eval_dir, entry)) as f:
        evals.append(json.load(f))
  lines = [f"## {name}", ""]
  if os.path.exists(base + ".cmd"):
    with open(base + ".cmd") as f:
      lines += ["```", f.read().strip(), "```", ""]
  model, train, opt = config["model"], config["train"], config["optimizer"]
  lines += [
      f"- recipe: loss {config['loss']['name']}, penalty {config['penalty']['name']} "
      f"(weight {config['penalty']['weight']:g}), arch {model['arch']} (critic width "
      f"{model['width']}, generator width {model['generator_width'] or model['width']}, "
      f"spectral norm {model['spectral_norm']}, {model['dtype']})",
      f"- batch {train['batch_size']} (generator "
      f"{train['generator_batch_size'] or train['batch_size']}), n_critic "
      f"{train['n_critic']}, dequantisation {train['dequantization']:g}, "
      f"{train['num_steps']} generator steps; Adam {opt['generator']['learning_rate']:g} "
      f"betas ({opt['generator']['b1']:g}, {opt['generator']['b2']:g}), "
      f"{opt['generator']['schedule']} schedule over {opt['decay_steps']} steps",
      f"- data: {config['dataset']['path']} at {config['dataset']['image_size']}x"
      f"{config['dataset']['image_size']}x3; evaluation: {config['eval']['num_samples']} "
      f"samples against the folder's held-out sixth",
  ]
  if "classifier" in log:
    lines.append(f"- evaluation classifier {log['classifier'][0]} in "
                 f"{log['classifier'][1]:.0f} s (once, inside the first evaluation)")
  if "compile_s" in log:
    lines.append(f"- train step compiled in {log['compile_s']:.0f} s")
  loads = read_loads(base + ".load")
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
      row = str(step) if label == "raw" else f"{step} ({label})"
      wall_cell = str(datetime.timedelta(seconds=wall)) if wall is not None else ""
      lines.append(f"| {row} | {wall_cell} | {_cell(seconds)} s | " +
                   " | ".join(_row(values)) + " |")
  if evals and "real_data_reference" in evals[-1]:
    lines.append("| real training images | | | " +
                 " | ".join(_row(evals[-1]["real_data_reference"])) + " |")
  if evals:
    lines += ["", f"Features: the {evals[-1].get('feature_extractor', '?')}."]
  written = sorted(int(m.group(1)) for m in map(
      re.compile(r"step_(\d+)\.png").fullmatch, os.listdir(os.path.join(workdir, "samples")))
                   if m)
  for step in sorted({written[-1] if g == "last" else int(g) for g in grids if written}):
    src = os.path.join(workdir, "samples", f"step_{step:06d}.png")
    if os.path.exists(src):
      dst = f"cifar_run_{name}_step_{step}.png"
      shutil.copyfile(src, os.path.join(out, dst))
      lines += ["", f"Samples at step {step} (fixed latents): ![{name} step {step}]({dst})"]
  return lines + [""]


def report(workdirs, out: str, grids, notes=()) -> str:
  """Writes <out>/cifar_run.md (one section per run, and their grids); returns it."""
  os.makedirs(out, exist_ok=True)
  lines = ["# Short CIFAR-10 runs on this CPU (benchmarks/cifar_run.py)", "",
           "The evaluation classifier is jaxgan's small CIFAR classifier trained on the "
           "folder, not Inception: FD and KID here compare jaxgan runs with each other, "
           "not with published FIDs. The JPEGs are re-encodings of CIFAR-10.", ""]
  lines += [f"- {note}" for note in notes] + ([""] if notes else [])
  for workdir in workdirs:
    lines += section(workdir, out, grids)
  lines += ["## Report", "", "```json", json.dumps({
      "commit": run_meta.git_commit(), "machine": f"{os.cpu_count()} CPUs, "
      f"{run_meta.cpu_name()}", "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
  }, indent=1), "```", ""]
  text = "\n".join(lines)
  with open(os.path.join(out, "cifar_run.md"), "w") as f:
    f.write(text)
  return text


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True, action="append",
                      help="the run's directory; repeat it to report several runs")
  parser.add_argument("--data", help="the CIFAR-10 JPEG class folders (train/)")
  parser.add_argument("--nice", type=int, default=10, help="niceness of the training run")
  parser.add_argument("--report-only", action="store_true")
  parser.add_argument("--out", default=os.path.join(HERE, "results"))
  parser.add_argument("--grids", default="last",
                      help="steps whose sample grids to copy, e.g. 200,last ('last': the "
                           "run's final grid)")
  parser.add_argument("--note", action="append", default=[],
                      help="a line for the report (what the tables cannot say); repeatable")
  parser.add_argument("launch_args", nargs="*", help="launch.py flags, after --")
  args = parser.parse_args()
  if not args.report_only:
    if not args.data or len(args.workdir) != 1:
      parser.error("training needs --data and one --workdir")
    base = args.workdir[0].rstrip("/")
    cmd = ["nice", "-n", str(args.nice), sys.executable, "launch.py", *args.launch_args,
           f"--config.dataset.path={args.data}", f"--workdir={args.workdir[0]}"]
    with open(base + ".cmd", "w") as f:
      f.write(" ".join(["nice", "-n", str(args.nice), "python"] + cmd[4:]) + "\n")
    with open(base + ".log", "a") as log, LoadSampler(base + ".load"):
      code = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
    if code:
      print(f"launch.py exited with {code}; see {base}.log", file=sys.stderr)
  grids = [g for g in args.grids.split(",") if g]
  print(report(args.workdir, args.out, grids, args.note))
  return 0


if __name__ == "__main__":
  sys.exit(main())
