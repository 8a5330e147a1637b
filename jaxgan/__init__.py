"""jaxgan: Wasserstein-family GANs (WGAN, WGAN-GP, DRAGAN, LSGAN, NSGAN, SNGAN) in JAX/Flax.

Data flows one way: config -> data iterator + models -> GANState -> compiled
train_step -> metrics / checkpoints / samples. README.md is the user's manual;
each module's docstring says what it owns.
"""

__version__ = "0.2.0"
