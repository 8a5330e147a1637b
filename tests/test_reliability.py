"""Faults, injected for real: SIGKILL at random moments, SIGTERM / SIGINT, damaged
checkpoints, diverging losses and a workdir reused with another config."""

import os
import random
import signal
import time

import jax
import numpy as np
import pytest

from configs import wgan_gp
from jaxgan import checkpoint as checkpoint_lib
from jaxgan import errors
from jaxgan import loop
from jaxgan import runs
from launcher import launch
from launcher import records
from launcher import start
from launcher import wait_for

TOY = ["--config=configs/wgan_gp.py:dataset=8gaussians", "--config.model.hidden=(32,32)",
       "--config.train.batch_size=32", "--config.log.every=1",
       "--config.log.sample_every=1000000"]


def _logged_steps(workdir):
  """Steps of the training records (evaluation records, eval/..., are separate lines)."""
  return [r["step"] for r in records(workdir) if "critic/loss" in r]


def _wait_for_steps(proc, workdir, n, timeout=120):
  wait_for(proc, lambda: len(_logged_steps(workdir)) >= n, f"{n} logged steps", timeout)


def _abstract(config):
  return runs.setup(config).abstract_state


def _final_state(workdir, config):
  ckpt = checkpoint_lib.Checkpointer(os.path.join(workdir, "checkpoints"), read_only=True)
  try:
    return ckpt.restore(_abstract(config))
  finally:
    ckpt.close()


def _toy_config(num_steps):
  config = wgan_gp.get_config("dataset=8gaussians")
  config.model.hidden = (32, 32)
  config.train.batch_size = 32
  config.train.num_steps = num_steps
  return config


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_bitwise_identical(tmp_path):
  num_steps, every = 1200, 25
  args = [*TOY, f"--config.train.num_steps={num_steps}",
          f"--config.log.checkpoint_every={every}"]
  straight = str(tmp_path / "straight")
  result = launch(*args, f"--workdir={straight}")
  assert result.returncode == 0, result.stderr[-2000:]

  killed = str(tmp_path / "killed")
  rng = random.Random(0)
  kills = 0
  for _ in range(4):  # four SIGKILLs at random moments, each followed by a restart
    proc = start(*args, f"--workdir={killed}")
    done_before = len(_logged_steps(killed))
    _wait_for_steps(proc, killed, done_before + 1)
    time.sleep(rng.uniform(0.0, 1.5))  # anywhere: mid-step, mid-checkpoint-write, ...
    if proc.poll() is None:
      proc.send_signal(signal.SIGKILL)
      kills += 1
    proc.wait(timeout=60)
    proc.stdout.close()
    proc.stderr.close()
  assert kills >= 3
  final = launch(*args, f"--workdir={killed}")
  assert final.returncode == 0, final.stderr[-2000:]

  config = _toy_config(num_steps)
  step_a, state_a, pos_a = _final_state(straight, config)
  step_b, state_b, pos_b = _final_state(killed, config)
  assert step_a == step_b == num_steps and pos_a == pos_b
  for a, b in zip(jax.tree.leaves(state_a), jax.tree.leaves(state_b)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  steps = _logged_steps(killed)
  assert steps == sorted(steps) and steps[-1] == num_steps  # monotone after resumes
  assert len(steps) == len(set(steps)) == num_steps  # every step logged exactly once


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_checkpoint_the_current_step_and_exit_0(tmp_path, sig):
  workdir = str(tmp_path / "run")
  proc = start(*TOY, "--config.train.num_steps=1000000",
               "--config.log.checkpoint_every=1000000", f"--workdir={workdir}")
  _wait_for_steps(proc, workdir, 3)
  sent = time.time()
  proc.send_signal(sig)
  out, err = proc.communicate(timeout=60)
  assert time.time() - sent < 15
  assert proc.returncode == 0, err[-2000:]
  name = signal.Signals(sig).name
  assert f"received {name}: saving a checkpoint" in out  # acknowledged when received
  assert "after the current step (a step takes about " in out  # how long that will be
  step = int(out.split(f"stopped by {name} at step ")[1].split(":")[0])
  assert os.listdir(os.path.join(workdir, "checkpoints")) == [str(step)]
  assert f"saved checkpoint step {step}" in out


def _damage(step_dir):
  """Overwrites every array file of a saved state with garbage."""
  for base, _, files in os.walk(os.path.join(step_dir, "state")):
    for name in files:
      with open(os.path.join(base, name), "wb") as f:
        f.write(b"\x00garbage" * 10)


@pytest.fixture()
def run_with_three_checkpoints(tmp_path):
  workdir = str(tmp_path / "run")
  args = [*TOY, "--config.log.checkpoint_every=10", f"--workdir={workdir}"]
  result = launch(*args, "--config.train.num_steps=30")
  assert result.returncode == 0, result.stderr[-2000:]
  return workdir, args


@pytest.mark.slow
def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(run_with_three_checkpoints):
  workdir, args = run_with_three_checkpoints
  _damage(os.path.join(workdir, "checkpoints", "30"))
  result = launch(*args, "--config.train.num_steps=40")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "checkpoint step 30" in result.stdout and "falling back to step 20" in result.stdout
  assert "resumed from step 20" in result.stdout
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints")), key=int) == ["20", "30", "40"]
  aside = os.listdir(os.path.join(workdir, "checkpoints.corrupt"))
  assert len(aside) == 1 and aside[0].startswith("30.")  # kept, not deleted


@pytest.mark.slow
def test_sampling_a_damaged_checkpoint_names_the_step_and_directory(run_with_three_checkpoints):
  workdir, args = run_with_three_checkpoints
  _damage(os.path.join(workdir, "checkpoints", "20"))
  result = launch(*args, "--mode=sample", "--step=20")
  assert result.returncode == 2
  errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and "checkpoint step 20" in errors[0]
  assert os.path.join(workdir, "checkpoints") in errors[0]
  assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_workdir_with_an_incompatible_config_is_refused_unless_allowed(
    run_with_three_checkpoints):
  workdir, args = run_with_three_checkpoints
  before = sorted(os.listdir(os.path.join(workdir, "checkpoints")))
  result = launch(*args, "--config.train.n_critic=3", "--config.train.num_steps=40")
  assert result.returncode == 2
  errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and "train.n_critic: 5 -> 3" in errors[0]
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == before
  allowed = launch(*args, "--config.train.n_critic=3", "--config.train.num_steps=40",
                   "--allow_config_change")
  assert allowed.returncode == 0, allowed.stderr[-2000:]


def test_divergence_stops_naming_step_and_quantity_and_saves_nothing(tmp_path):
  workdir = str(tmp_path / "run")
  config = _toy_config(3)
  config.log.checkpoint_every = 1
  loop.train_and_evaluate(config, workdir)  # three good steps, checkpointed
  config.train.num_steps = 50
  config.optimizer.critic.learning_rate = 1e30  # blows the critic up within a few steps
  config.optimizer.generator.learning_rate = 1e30
  with pytest.raises(errors.NonFiniteError, match=r"non-finite .* at step (\d+)") as info:
    loop.train_and_evaluate(config, workdir, allow_config_change=True)
  bad_step = int(str(info.value).split(" at step ")[1].split(" ")[0])
  saved = [int(s) for s in os.listdir(os.path.join(workdir, "checkpoints"))]
  assert saved and all(s < bad_step for s in saved)
  assert f"last good checkpoint: step {max(saved)}" in str(info.value)
  _, state, _ = _final_state(workdir, config)  # the newest one on disk is finite
  assert all(np.all(np.isfinite(np.asarray(leaf))) for leaf in jax.tree.leaves(state)
             if np.issubdtype(np.asarray(leaf).dtype, np.floating))
