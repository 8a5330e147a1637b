"""XLA:CPU compiler flags jaxgan sets for its processes, before JAX starts its backend.

XLA reads `XLA_FLAGS` once, when the first backend is created, so `apply()` runs at
process set-up (launch.py through cli.setup_process, the benchmarks, the test
workers) and changes nothing once a backend exists. A flag the user already put
in XLA_FLAGS keeps the user's value (XLA's own default convolutions back:
`XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=+individual_convolution`). The flags are `xla_cpu_*` options: they
change how the CPU backend compiles and nothing on a GPU or TPU backend.

What each flag does and the measurement that chose it: FLAGS below and
benchmarks/results/xla_cpu_flags.md (every flag tried, kept or not).
"""

from __future__ import annotations

import os
import re

# flag -> value. Kept only where the A/B in benchmarks/results/xla_cpu_flags.md
# measured the train steps faster.
FLAGS = {
    # jaxlib 0.10's XLA:CPU hands every convolution to YNNPACK ("individual
    # convolution" library fusions). Its weight-gradient convolutions run ~3x slower
    # than XLA's own (Eigen) convolution on the 3x3 convolutions of the ResNets;
    # "-individual_convolution" removes that one fusion type from the default list,
    # so convolutions go back to Eigen (matrix products stay where they were).
    "xla_cpu_experimental_ynn_fusion_type": "-individual_convolution",
}


def _named(xla_flags: str) -> set[str]:
  return set(re.findall(r"--([A-Za-z0-9_]+)=", xla_flags))


def apply(environ=None) -> list[str]:
  """Adds FLAGS to `environ["XLA_FLAGS"]` (default os.environ) unless already named
  there; returns the flags added as "--name=value". Effective only before JAX
  creates a backend in this process."""
  environ = os.environ if environ is None else environ
  current = environ.get("XLA_FLAGS", "")
  added = [f"--{name}={value}" for name, value in FLAGS.items()
           if name not in _named(current)]
  if added:
    environ["XLA_FLAGS"] = " ".join([current, *added]).strip()
  return added


def in_effect(environ=None) -> str:
  """The XLA:CPU flags of this process's XLA_FLAGS, as one string ('' if none)."""
  environ = os.environ if environ is None else environ
  flags = environ.get("XLA_FLAGS", "").split()
  return " ".join(f for f in flags if f.startswith("--xla_cpu_"))
