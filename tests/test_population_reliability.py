"""A population survives SIGKILL at random moments: resumed, it ends bitwise where
an uninterrupted population ends, with every member's record logged once per step;
--mode=export from the command line gives a run that samples like any."""

import os
import random
import signal
import subprocess
import time

import jax
import numpy as np
import pytest

from configs import wgan_gp
from jaxgan import checkpoint as checkpoint_lib
from jaxgan import runs
import launcher
from launcher import launch
from launcher import records as _records
from launcher import wait_for

POPULATION = ["--config=configs/wgan_gp.py:dataset=8gaussians", "--config.model.hidden=(32,32)",
              "--config.train.batch_size=32", "--config.log.every=1",
              "--config.log.sample_every=1000000", "--config.log.eval_every=0",
              "--config.population.size=2", "--config.population.sweep.penalty_weight=0.1,1"]


def start(*args):
  return launcher.start(*args, stdout=subprocess.DEVNULL)


def _wait_for_records(proc, workdir, n, timeout=120):
  wait_for(proc, lambda: len(_records(workdir)) >= n, f"{n} records", timeout)


def _final_state(workdir, num_steps):
  config = wgan_gp.get_config("dataset=8gaussians")
  config.model.hidden = (32, 32)
  config.train.batch_size = 32
  config.train.num_steps = num_steps
  config.population.size = 2
  config.population.sweep.penalty_weight = (0.1, 1)
  ckpt = checkpoint_lib.Checkpointer(os.path.join(workdir, "checkpoints"), read_only=True)
  try:
    return ckpt.restore(runs.setup(config).abstract_state)
  finally:
    ckpt.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_bitwise_identical(tmp_path):
  num_steps, every = 600, 25
  args = [*POPULATION, f"--config.train.num_steps={num_steps}",
          f"--config.log.checkpoint_every={every}"]
  straight = str(tmp_path / "straight")
  result = launch(*args, f"--workdir={straight}")
  assert result.returncode == 0, result.stderr[-2000:]

  killed = str(tmp_path / "killed")
  rng = random.Random(0)
  kills = 0
  for _ in range(3):  # SIGKILLs anywhere: mid-step, mid-checkpoint, mid-record
    proc = start(*args, f"--workdir={killed}")
    _wait_for_records(proc, killed, len(_records(killed)) + 1)
    time.sleep(rng.uniform(0.0, 1.5))
    if proc.poll() is None:
      proc.send_signal(signal.SIGKILL)
      kills += 1
    proc.wait(timeout=60)
    proc.stderr.close()
  assert kills >= 2
  final = launch(*args, f"--workdir={killed}")
  assert final.returncode == 0, final.stderr[-2000:]

  step_a, state_a, pos_a = _final_state(straight, num_steps)
  step_b, state_b, pos_b = _final_state(killed, num_steps)
  assert step_a == step_b == num_steps and pos_a == pos_b
  for a, b in zip(jax.tree.leaves(state_a), jax.tree.leaves(state_b)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  records = _records(killed)
  steps = [r["step"] for r in records]
  assert steps == sorted(steps)  # monotone after every resume
  members = [(r["step"], r["member"]) for r in records if "member" in r]
  assert sorted(members) == [(s, m) for s in range(1, num_steps + 1) for m in range(4)]
  summaries = [(r["step"], r["sweep"]["penalty_weight"]) for r in records if "summary" in r]
  assert sorted(summaries) == [(s, w) for s in range(1, num_steps + 1) for w in (0.1, 1.0)]


@pytest.mark.slow
def test_export_from_the_command_line_then_sample_and_resume(tmp_path):
  workdir, to = str(tmp_path / "population"), str(tmp_path / "member2")
  result = launch(*POPULATION, "--config.train.num_steps=20", f"--workdir={workdir}")
  assert result.returncode == 0, result.stderr[-2000:]
  export = launch("--mode=export", f"--workdir={workdir}", "--member=2", f"--to={to}")
  assert export.returncode == 0, export.stderr[-2000:]
  assert "exported member 2 (seed 0, penalty_weight=1) at step 20" in export.stdout
  sample = launch("--mode=sample", f"--workdir={to}")
  assert sample.returncode == 0 and "step 20 (raw generator): wrote" in sample.stdout
  resume = launch(f"--config={to}/config.json", f"--workdir={to}", "--config.train.num_steps=25")
  assert resume.returncode == 0, resume.stderr[-2000:]
  assert "resumed from step 20" in resume.stdout
  no_member = launch("--mode=export", f"--workdir={workdir}", f"--to={tmp_path / 'x'}")
  assert no_member.returncode == 2 and "needs --member=i" in no_member.stderr
  single = launch("--mode=sample", f"--workdir={to}", "--member=0")
  assert single.returncode == 2 and "is a single run, not a population" in single.stderr
