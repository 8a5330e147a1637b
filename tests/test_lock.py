"""The workdir lock: a second writer is refused with one line naming the holder, a
stale lock is taken over with a line saying so (real processes and files)."""

import glob
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from jaxgan import errors
from jaxgan import lock
from launcher import launch
from launcher import records
from launcher import start
from launcher import wait_for

TOY = ["--config=configs/wgan_gp.py:dataset=8gaussians", "--config.model.hidden=(16,16)",
       "--config.train.batch_size=16", "--config.log.every=1",
       "--config.log.sample_every=1000000", "--config.log.checkpoint_every=1000000",
       "--config.log.eval_every=1000000"]


def _dead_pid():
  proc = subprocess.Popen([sys.executable, "-c", "pass"])
  proc.wait()
  return proc.pid


def _write_lock(workdir, holder, age=0.0):
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, lock.NAME)
  with open(path, "w") as f:
    json.dump(holder, f)
  then = time.time() - age
  os.utime(path, (then, then))
  return path


@pytest.mark.slow
def test_a_second_training_into_one_workdir_exits_2_and_the_first_is_untouched(tmp_path):
  workdir = str(tmp_path / "run")
  args = [*TOY, "--config.train.num_steps=1000000", f"--workdir={workdir}"]
  first = start(*args)
  wait_for(first, lambda: len(records(workdir)) >= 1, "a first logged step", timeout=240)
  second = launch(*args, timeout=240)
  assert second.returncode == 2, second.stderr[-2000:]
  lines = second.stderr.strip().splitlines()
  assert len(lines) == 1, second.stderr
  assert lines[0].startswith(f"error: workdir {workdir} is in use: train by pid "
                             f"{first.pid} on host {socket.gethostname()} since ")
  assert "resumed" not in second.stdout
  assert first.poll() is None  # still training, alone
  first.send_signal(signal.SIGTERM)
  out, err = first.communicate(timeout=120)
  assert first.returncode == 0, err[-2000:]
  stopped = int(out.split("stopped by SIGTERM at step ")[1].split(":")[0])
  steps = [r["step"] for r in records(workdir) if "critic/loss" in r]
  assert steps == list(range(1, stopped + 1))  # complete: every step once, in order
  assert len(glob.glob(os.path.join(workdir, "events.out.tfevents.*"))) == 1
  assert not os.path.exists(os.path.join(workdir, "metrics.orphaned.jsonl"))
  assert not os.path.exists(os.path.join(workdir, lock.NAME))  # released at the end


def test_a_live_holder_is_named_and_nothing_is_touched(tmp_path):
  workdir = str(tmp_path / "run")
  path = _write_lock(workdir, {"host": socket.gethostname(), "pid": os.getppid(),
                               "mode": "train", "since": time.time() - 300})
  before = open(path).read()
  with pytest.raises(errors.WorkdirLockedError) as e:
    with lock.hold(workdir, "sample"):
      raise AssertionError("entered a held workdir")
  assert e.value.exit_code == 2
  assert f"in use: train by pid {os.getppid()} on host {socket.gethostname()}" in str(e.value)
  assert "(5m ago)" in str(e.value)
  assert os.listdir(workdir) == [lock.NAME] and open(path).read() == before


@pytest.mark.parametrize("holder,age,reason", [
    ("dead", 0.0, "that process is gone"),
    ("elsewhere", lock.STALE_AFTER + 60, "its heartbeat stopped"),
])
def test_a_stale_lock_is_taken_over_with_a_line(tmp_path, caplog, holder, age, reason):
  workdir = str(tmp_path / "run")
  if holder == "dead":
    stale = {"host": socket.gethostname(), "pid": _dead_pid(), "mode": "train", "since": 1.0}
  else:
    stale = {"host": "another-host", "pid": 1, "mode": "train", "since": 1.0}
  path = _write_lock(workdir, stale, age)
  with caplog.at_level(logging.WARNING, logger="jaxgan"):
    with lock.hold(workdir, "train") as held:
      mine = json.load(open(path))
      assert mine["pid"] == os.getpid() and mine["mode"] == "train"
      assert held is not None
  assert f"took over the lock of {workdir} left by train by pid {stale['pid']}" in caplog.text
  assert reason in caplog.text
  assert not os.path.exists(path)


def test_a_new_workdir_left_empty_is_removed_and_other_processes_of_a_job_share_it(tmp_path):
  workdir = str(tmp_path / "a" / "run")
  with lock.hold(workdir, "train"):
    assert os.listdir(workdir) == [lock.NAME]
    with lock.hold(workdir, "train", primary=False) as shared:  # process 1 of the job
      assert shared is None
  assert not os.path.exists(tmp_path / "a")  # nothing written: nothing left behind
