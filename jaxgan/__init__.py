"""jaxgan: Wasserstein-family GANs (WGAN, WGAN-GP, DRAGAN, LSGAN, NSGAN, SNGAN) in JAX/Flax.

Data flows one way: config -> data iterator + models -> GANState -> compiled
train_step -> metrics / checkpoints / samples. README.md is the user's manual;
each module's docstring says what it owns.
"""

__version__ = "0.2.0"


def __getattr__(name):
  """`jaxgan.Generator` (jaxgan/generator.py), imported on first use: `import jaxgan`
  itself imports neither JAX nor the models."""
  if name == "Generator":
    from jaxgan.generator import Generator  # pylint: disable=g-import-not-at-top
    return Generator
  raise AttributeError(f"module 'jaxgan' has no attribute {name!r}")
