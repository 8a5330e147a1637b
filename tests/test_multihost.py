"""Two real processes on loopback (gloo CPU collectives), two forced CPU devices
each: they train in lockstep, their checkpoint restores in one process, and the
result equals a one-process, four-device run and a one-device run."""

import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import wgan_gp
from jaxgan import checkpoint as checkpoint_lib
from jaxgan import runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--config=configs/wgan_gp.py:dataset=8gaussians", "--config.train.num_steps=12",
        "--config.log.every=4", "--config.log.checkpoint_every=6",
        "--config.model.hidden=(32,32)", "--config.train.batch_size=64"]


def _env(devices):
  return dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
              JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _launch(workdir, devices, *extra, timeout=300):
  return subprocess.run([sys.executable, "launch.py", *ARGS, f"--workdir={workdir}", *extra],
                        cwd=ROOT, env=_env(devices), capture_output=True, text=True,
                        timeout=timeout)


def _restore(workdir):
  config = wgan_gp.get_config("dataset=8gaussians")
  config.train.num_steps = 12
  config.model.hidden = (32, 32)
  config.train.batch_size = 64
  ckpt = checkpoint_lib.Checkpointer(os.path.join(workdir, "checkpoints"), read_only=True)
  try:
    return ckpt.restore(runs.setup(config).abstract_state)
  finally:
    ckpt.close()


def _max_rel_diff(a, b):
  worst = 0.0
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.dtype.kind == "f" and x.size:
      worst = max(worst, float(np.max(np.abs(x - y)) / (np.max(np.abs(x)) + 1e-12)))
  return worst


@pytest.mark.slow
def test_two_processes_train_like_one_process_with_four_devices(tmp_path):
  port = _free_port()
  pair = str(tmp_path / "pair")
  procs = [subprocess.Popen(
      [sys.executable, "launch.py", *ARGS, f"--workdir={pair}",
       f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2", f"--process_id={i}"],
      cwd=ROOT, env=_env(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for i in range(2)]
  try:
    outs = [p.communicate(timeout=300) for p in procs]
  finally:
    for p in procs:  # always end them, even when the test fails
      if p.poll() is None:
        p.kill()
        p.wait()
  for p, (out, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  assert "done: step 12" in outs[0][0]
  for i, (out, _) in enumerate(outs):  # each process's lines say whose they are ...
    assert out and all(f"[p{i}] " in line for line in out.splitlines()), out
    assert "[Gloo]" not in out  # ... and gloo's connection chatter stays off them
  four = str(tmp_path / "four")
  one = str(tmp_path / "one")
  assert _launch(four, 4).returncode == 0
  assert _launch(one, 1).returncode == 0

  step_pair, state_pair, pos_pair = _restore(pair)  # the pair's checkpoint, one process
  step_four, state_four, _ = _restore(four)
  step_one, state_one, _ = _restore(one)
  assert step_pair == step_four == step_one == 12 and pos_pair == 12
  assert _max_rel_diff(state_four, state_pair) < 1e-5
  assert _max_rel_diff(state_one, state_pair) < 1e-5


@pytest.mark.slow
def test_process_id_out_of_range_is_one_line_before_anything_starts(tmp_path):
  result = _launch(str(tmp_path / "x"), 1, "--coordinator_address=127.0.0.1:1",
                   "--num_processes=2", "--process_id=2", timeout=60)
  assert result.returncode == 2
  assert "error: --process_id must be in [0, 2), got 2" in result.stderr
  assert not os.path.exists(tmp_path / "x")


@pytest.mark.slow
def test_global_batch_not_divisible_by_devices_is_refused_before_compiling(tmp_path):
  result = _launch(str(tmp_path / "x"), 3, "--config.train.batch_size=64", timeout=120)
  assert result.returncode == 2
  errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and "does not split evenly over 3 devices" in errors[0]
  assert not os.path.exists(tmp_path / "x" / "checkpoints")
