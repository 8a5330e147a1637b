"""DRAGAN: gradient penalty on noise-perturbed real data.

Kodali et al. 2017, "On Convergence and Stability of GANs": lambda ~ 10, k = 1,
penalty points x + delta around the real data, the standard (non-saturating)
GAN loss. Both perturbations are selectable:
  perturbation=std_uniform  x + 0.5 std(x) U[0,1], randomly interpolated: the
                            authors' released code (default here);
  perturbation=gaussian     x + N(0, cI), c = 10: the paper's eq.
Variant loss=wasserstein gives the Wasserstein-form DRAGAN that some public
implementations use (critic loss E[D(G(z))] - E[D(x)], n_critic 5).

    python launch.py --config=configs/dragan.py --workdir=runs/dragan
    python launch.py --config=configs/dragan.py:dataset=25gaussians,perturbation=gaussian --workdir=runs/dragan_25g

Variants after the colon: the VARIANTS table below, and augment=none|diffaug|ada
(every recipe: base_config.SHARED_VARIANTS); launch.py --help lists them.
"""

from jaxgan import base_config


VARIANTS = dict(dataset=base_config.DATASETS, arch=base_config.ARCHS,
                loss=("non_saturating", "wasserstein"),  # the paper's form | WGAN-GP's
                perturbation=("std_uniform", "gaussian"))  # authors' code | paper


def get_config(arg=None):
  opts = base_config.parse_arg(arg, VARIANTS)
  config = base_config.make(opts.dataset, opts.arch, augment=opts.augment)

  config.loss.name = opts.loss  # non_saturating (paper) | wasserstein (variant)
  config.penalty.name = "dragan"  # penalty on perturbed reals (paper eq. 9)
  # lambda ~ 10 (paper §5 / Alg. 1) on images. Toy sets: 0.1, the authors' gan_toy.py
  # LAMBDA (as in wgan_gp.py): at lambda 10 the toy generators collapsed, at 0.1 they
  # cover most modes (benchmarks/results/toy_table.md).
  config.penalty.weight = 0.1 if base_config.is_toy(config) else 10.0
  config.penalty.target = 1.0  # k = 1 (paper)
  config.penalty.perturbation = opts.perturbation  # std_uniform (code) | gaussian (paper)
  config.penalty.noise_variance = 10.0  # c ~ 10 (paper), gaussian only
  config.penalty.noise_scale = 0.5  # 0.5 * std(x) (authors' code), std_uniform only
  # One discriminator update per generator update for the paper's standard GAN
  # form (authors' code); five for the Wasserstein form, as WGAN-GP.
  config.train.n_critic = 5 if opts.loss == "wasserstein" else 1
  # Adam 1e-4, beta1 0.5, beta2 0.9 (authors' code, inherited from WGAN-GP's).
  # Toy sets: linear decay to 0 over the run, as wgan_gp.py's toy recipe: it covered
  # more modes with more high-quality samples than a constant rate
  # (benchmarks/results/toy_table.md, rows "lin5k" against the constant-rate rows).
  schedule = "linear" if base_config.is_toy(config) else "constant"
  config.optimizer.critic = base_config.optimizer_config(
      "adam", 1e-4, b1=0.5, b2=0.9, schedule=schedule)  # critic: Adam and schedule above
  config.optimizer.generator = base_config.optimizer_config(
      "adam", 1e-4, b1=0.5, b2=0.9, schedule=schedule)  # same as the critic (authors' code)
  base_config.set_budget(config, "dragan")
  return config
