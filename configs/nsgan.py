"""NSGAN: the standard GAN with the non-saturating generator loss.

Goodfellow et al. 2014 (loss, §3's -log D(G(z)) trick); optimiser settings of
DCGAN (Radford et al. 2016): Adam lr 2e-4, beta1 0.5.

    python launch.py --config=configs/nsgan.py --workdir=runs/nsgan
    python launch.py --config=configs/nsgan.py:dataset=25gaussians --workdir=runs/nsgan_25g

Variants: dataset=..., arch=... (see configs/common.py).
"""

from configs import common


def get_config(arg=None):
  opts = common.parse_arg(arg, dataset="digits", arch="default")
  config = common.base_config(opts.dataset, opts.arch)

  config.loss.name = "non_saturating"  # -log D(G(z)) generator (Goodfellow et al. 2014)
  config.penalty.name = "none"  # the unregularised standard GAN
  config.train.n_critic = 1  # one D update per G update (Goodfellow et al. 2014, k = 1)
  # Adam lr 2e-4, beta1 0.5 (DCGAN, Radford et al. 2016); beta2 Adam's default.
  config.optimizer.critic = common.optimizer_config("adam", 2e-4, b1=0.5, b2=0.999)  # D
  config.optimizer.generator = common.optimizer_config("adam", 2e-4, b1=0.5, b2=0.999)  # G
  common.set_budget(config, "nsgan")
  return config
