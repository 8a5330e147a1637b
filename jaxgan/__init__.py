"""jaxgan: Wasserstein-family GANs (WGAN, WGAN-GP, DRAGAN, LSGAN, NSGAN) in JAX/Flax.

Data flows one way: config -> data iterator + models -> GANState -> compiled
train_step -> metrics / checkpoints / samples. See shared/DESIGN.md.
"""

__version__ = "0.1.0"
