"""LSGAN: least-squares GAN with the 0-1 coding a=0, b=1, c=1.

Mao et al. 2017, "Least Squares Generative Adversarial Networks", eq. (2);
Adam lr 2e-4, beta1 0.5 (paper §4, after DCGAN).

    python launch.py --config=configs/lsgan.py --workdir=runs/lsgan
    python launch.py --config=configs/lsgan.py:dataset=swissroll --workdir=runs/lsgan_swiss

Variants after the colon: the VARIANTS table below, and augment=none|diffaug|ada
(every recipe: base_config.SHARED_VARIANTS); launch.py --help lists them.
"""

from jaxgan import base_config


VARIANTS = dict(dataset=base_config.DATASETS, arch=base_config.ARCHS)


def get_config(arg=None):
  opts = base_config.parse_arg(arg, VARIANTS)
  config = base_config.make(opts.dataset, opts.arch, augment=opts.augment)

  config.loss.name = "least_squares"  # Mao et al. 2017, eq. 2
  config.loss.options.a = 0.0  # target for fakes in D's loss (paper eq. 2)
  config.loss.options.b = 1.0  # target for reals in D's loss
  config.loss.options.c = 1.0  # value G wants D to assign to fakes
  config.penalty.name = "none"  # LSGAN has no gradient penalty
  config.train.n_critic = 1  # alternating updates (paper)
  # Adam lr 2e-4, beta1 0.5 (paper §4); beta2 Adam's default 0.999.
  config.optimizer.critic = base_config.optimizer_config("adam", 2e-4, b1=0.5, b2=0.999)  # D
  config.optimizer.generator = base_config.optimizer_config("adam", 2e-4, b1=0.5, b2=0.999)  # G
  base_config.set_budget(config, "lsgan")
  return config
