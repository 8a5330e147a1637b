"""WGAN: Wasserstein loss with critic weight clipping.

Arjovsky et al. 2017, "Wasserstein GAN", Alg. 1 (clip c = 0.01, RMSProp
alpha = 5e-5, n_critic = 5, batch 64).

    python launch.py --config=configs/wgan.py --workdir=runs/wgan
    python launch.py --config=configs/wgan.py:dataset=8gaussians --workdir=runs/wgan_8g

Variants after the colon: the VARIANTS table below, and augment=none|diffaug|ada
(every recipe: base_config.SHARED_VARIANTS); launch.py --help lists them.
"""

from jaxgan import base_config


VARIANTS = dict(dataset=base_config.DATASETS, arch=base_config.ARCHS)


def get_config(arg=None):
  opts = base_config.parse_arg(arg, VARIANTS)
  config = base_config.make(opts.dataset, opts.arch, augment=opts.augment)

  config.loss.name = "wasserstein"  # E[D(G(z))] - E[D(x)] (paper eq. 3)
  config.penalty.name = "none"  # the Lipschitz constraint is the clipping below
  config.train.weight_clip = 0.01  # c = 0.01 (paper Alg. 1)
  config.train.n_critic = 5  # n_critic = 5 (paper Alg. 1)
  # RMSProp, alpha = 5e-5 (paper Alg. 1: momentum-based optimisers destabilised the
  # clipped critic); decay 0.99 and eps 1e-8 are torch.optim.RMSprop's defaults,
  # used by the authors' PyTorch code.
  config.optimizer.critic = base_config.optimizer_config("rmsprop", 5e-5, decay=0.99, eps=1e-8)
  config.optimizer.generator = base_config.optimizer_config(
      "rmsprop", 5e-5, decay=0.99, eps=1e-8)  # same as the critic (paper Alg. 1)
  base_config.set_budget(config, "wgan")
  return config
