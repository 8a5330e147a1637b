"""jaxgan: Wasserstein-family GANs (WGAN, WGAN-GP, DRAGAN, LSGAN, NSGAN, SNGAN) in JAX/Flax.

Data flows one way: config -> data iterator + models -> GANState -> compiled
train_step -> metrics / checkpoints / samples. README.md is the user's manual;
each module's docstring says what it owns.
"""

__version__ = "0.2.0"

from jaxgan import xla_cpu as _xla_cpu

# Before JAX starts a backend (XLA reads XLA_FLAGS once): the CPU compiler flags every
# jaxgan process runs with, so a run, its tests, its benchmarks and a notebook that
# imports jaxgan compile the same programs. What they are and why: jaxgan/xla_cpu.py.
_xla_cpu.apply()


def __getattr__(name):
  # The package root imports no other jaxgan module (every module imports the root
  # first, so a reference here would close a cycle through all of them).
  if name == "Generator":
    raise AttributeError("jaxgan.Generator lives in jaxgan.generator: "
                         "from jaxgan.generator import Generator")
  raise AttributeError(f"module 'jaxgan' has no attribute {name!r}")
