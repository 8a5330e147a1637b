"""Every command and code block in README.md and docs/*.md runs as written, on tiny
settings (a command repeated in a later page runs once).

Shell blocks: each `python launch.py ...` runs with the workdir moved under a
temporary directory and, for training, a few steps on small models; `--step=N`
becomes the newest checkpoint of that workdir (a tiny run has no step 9000), and
the two-process example gets a free port. Python blocks run as they are, with runs/
under a temporary directory: runs/acgan is conftest.py's short conditional run,
runs/acgan_export its export. The set-up commands (venv, pip) are what CI itself
runs (.ci/run). Blocks fenced
`sh` need what a fresh machine lacks (CIFAR-10 prepared for TFDS, the Inception
weights) and are not run here; tests/test_resnet.py and tests/test_inception.py
run their code paths on generated data and seeded weights.
"""

import os
import re
import shlex
import socket
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_TRAIN = ["--config.train.num_steps=4", "--config.model.hidden=(16,16)",
              "--config.train.batch_size=16", "--config.eval.num_samples=200",
              "--config.eval.kid_subsets=5", "--config.eval.num_projections=20"]
TINY_EVAL = ["--config.eval.num_samples=200", "--config.eval.kid_subsets=5",
             "--config.eval.num_projections=20"]


def _blocks(language):
  """The `language` blocks of README.md, then of docs/*.md in name order."""
  pages = ["README.md"] + sorted(os.path.join("docs", name)
                                 for name in os.listdir(os.path.join(ROOT, "docs"))
                                 if name.endswith(".md"))
  blocks = []
  for page in pages:
    with open(os.path.join(ROOT, page)) as f:
      blocks += re.findall(rf"```{language}\n(.*?)```", f.read(), re.S)
  return blocks


def _commands(block):
  """Logical lines (backslash continuations joined), comments dropped."""
  joined = re.sub(r"\\\n\s*", " ", block)
  return [line.strip() for line in joined.splitlines()
          if line.strip() and not line.strip().startswith("#")]


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _latest_step(workdir):
  steps = [int(d) for d in os.listdir(os.path.join(workdir, "checkpoints")) if d.isdigit()]
  return max(steps)


def _tiny(command, tmp):
  """The README command on tiny settings, with its workdir under `tmp`."""
  command = command.replace("runs/", f"{tmp}/runs/").replace("12345", str(_free_port()))
  # The set-up of the "Two commands" block is what CI runs; keep the launch.
  command = command.split("&& python launch.py", 1)[-1]
  if not command.lstrip().startswith(("python launch.py", "launch.py", "XLA_FLAGS", "for ")):
    command = "python launch.py" + command if command.startswith(" --") else command
  words = shlex.split(command.replace("python launch.py", "LAUNCH"))
  workdir = next((w.split("=", 1)[1] for w in words if w.startswith("--workdir=")), None)
  step = re.search(r"--step=\d+", command)
  if step and workdir:
    command = command.replace(step.group(0), f"--step={_latest_step(workdir)}")
  extra = TINY_EVAL if "--mode=" in command else TINY_TRAIN + [
      f"--config.dataset.data_dir={tmp}/tfds"]
  return command.replace("python launch.py",
                         f"{shlex.quote(sys.executable)} launch.py {shlex.join(extra)}")


@pytest.mark.slow
def test_every_launch_command_in_the_readme_runs_on_tiny_settings(tmp_path):
  scripts = []
  for block in _blocks("bash"):
    commands = [c for c in _commands(block) if "launch.py" in c]
    if any(c.startswith("for ") for c in _commands(block)):
      scripts.append("\n".join(_commands(block)))  # a shell loop: run it whole
    else:
      scripts.extend(c for c in commands if c not in scripts)  # a page repeating one
  assert len(scripts) >= 7  # the train command, usage, scale-out
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")
  for command in scripts:
    script = _tiny(command, tmp_path)
    result = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (command, script, result.stderr[-3000:])
    assert "error:" not in result.stderr, (command, result.stderr[-2000:])


def _trained_runs(blocks, conditional_digits_run):
  """The runs/ directory the Python blocks read, under a temporary directory: runs/acgan
  is the shared short conditional run (conftest.py), runs/acgan_export its export
  written by what --mode=export --format=stablehlo calls."""
  config, workdir = conditional_digits_run
  runs_dir = os.path.dirname(workdir)
  read = set(re.findall(r"runs/(\w+)", "".join(blocks)))
  assert read <= {"acgan", "acgan_export", "acgan_walk"}, (
      f"a README Python block reads {sorted(read)}: make it in _trained_runs")
  export = os.path.join(runs_dir, "acgan_export")
  if "acgan_export" in read and not os.path.exists(export):
    from jaxgan import generator  # pylint: disable=g-import-not-at-top
    generator.export_generator(config, workdir, export)
  return runs_dir


def test_every_python_block_in_the_readme_runs(conditional_digits_run):
  blocks = _blocks("python")
  assert blocks
  runs_dir = _trained_runs(blocks, conditional_digits_run)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu",
             PYTHONPATH=ROOT)
  for block in blocks:
    script = block.replace('"runs/', f'"{runs_dir}/')
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (block, result.stderr[-3000:])
