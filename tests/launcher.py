"""launch.py as the subprocess tests run it: CPU only, TF's C++ logs quiet."""

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env():
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")


def launch(*args, timeout=300):
  """Runs launch.py to the end; the CompletedProcess with its output as text."""
  return subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT, env=env(),
                        capture_output=True, text=True, timeout=timeout)


def start(*args, stdout=subprocess.PIPE):
  """Starts launch.py in the background (stderr piped, for the failure message)."""
  return subprocess.Popen([sys.executable, "launch.py", *args], cwd=ROOT, env=env(),
                          stdout=stdout, stderr=subprocess.PIPE, text=True)


def records(workdir):
  """The complete lines of WORKDIR/metrics.jsonl so far ([] before the first)."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.endswith("\n")]


def wait_for(proc, done, what, timeout=120):
  """Polls `done()` while `proc` runs; raises if it ends first or time runs out."""
  deadline = time.time() + timeout
  while time.time() < deadline:
    if done():
      return
    if proc.poll() is not None:
      raise AssertionError(f"run ended early: {proc.stderr.read()[-2000:]}")
    time.sleep(0.05)
  proc.kill()
  raise AssertionError(f"no {what} within {timeout}s")
