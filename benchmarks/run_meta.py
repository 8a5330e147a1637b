"""What the benchmark scripts record about the machine and the code they measured,
including the float32 matmul peak their rows are set against."""

import contextlib
import os
import platform
import statistics
import subprocess
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
