"""What the benchmark scripts share: what they record about the machine and the code
they measured (the CPU, commit, package versions, the load during a run and the
float32 matmul peak their rows are set against), how they make a recipe's config and
how they write a results table."""

import contextlib
import importlib
from importlib import metadata
import json
import os
import platform
import statistics
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_name() -> str:
  """The CPU model from /proc/cpuinfo (platform.processor() elsewhere)."""
  with contextlib.suppress(OSError):
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  return platform.processor()


def git_commit() -> str:
  """The short HEAD commit of the repository, or "" outside a git checkout."""
  with contextlib.suppress(Exception):
    return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
  return ""


def version(dist: str) -> str:
  """An installed distribution's version, or "" without it."""
  with contextlib.suppress(metadata.PackageNotFoundError):
    return metadata.version(dist)
  return ""


def recipe_config(recipe: str, variant: str | None = None, overrides: dict | None = None):
  """configs/<recipe>.py's config for `variant` with dotted-key `overrides` applied
  ({"penalty.method": "jvp", ...}; a value takes the type of the key's default)."""
  config = importlib.import_module(f"configs.{recipe}").get_config(variant)
  for key, value in (overrides or {}).items():
    node = config
    *parents, leaf = key.split(".")
    for name in parents:
      node = node[name]
    if leaf not in node:
      raise SystemExit(f"error: unknown config key {key!r}")
    node[leaf] = type(node[leaf])(value) if node[leaf] is not None else value
  return config


def write(out: str, stem: str, payload: dict, md: str | None = None) -> None:
  """A results table: <out>/<stem>.json and, given `md`, <out>/<stem>.md."""
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, f"{stem}.json"), "w") as f:
    json.dump(payload, f, indent=1)
    f.write("\n")
  if md is not None:
    with open(os.path.join(out, f"{stem}.md"), "w") as f:
      f.write(md)


class LoadSampler:
  """Samples the 1-minute load average every `every` seconds while open (a daemon
  thread); each sample is also appended to `path` ("unix-time load" lines) if given."""

  def __init__(self, every: float = 5.0, path: str | None = None):
    self.every, self.path, self.samples = every, path, []
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True)

  def _run(self):
    while True:
      load = os.getloadavg()[0]
      self.samples.append(load)
      if self.path:
        with open(self.path, "a") as f:
          f.write(f"{time.time():.0f} {load:.2f}\n")
      if self._stop.wait(self.every):
        return

  def __enter__(self):
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()
    return False

  def stats(self) -> dict:
    s = self.samples or [os.getloadavg()[0]]
    return {"mean": round(sum(s) / len(s), 2), "min": round(min(s), 2),
            "max": round(max(s), 2)}


def matmul_peak(sizes=(2048, 3072), repeats=7) -> float:
  """Best median GFLOP/s of a jitted float32 jnp.dot over `sizes`: the CPU's
  practical peak, against which the rows report their fraction."""
  import jax  # pylint: disable=g-import-not-at-top  (the metadata helpers need no JAX)
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  best = 0.0
  for n in sizes:
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
    dot = jax.jit(jnp.dot)
    dot(a, b).block_until_ready()
    times = []
    for _ in range(repeats):
      start = time.perf_counter()
      dot(a, b).block_until_ready()
      times.append(time.perf_counter() - start)
    best = max(best, 2 * n**3 / statistics.median(times) / 1e9)
  return best
