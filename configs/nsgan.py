"""NSGAN: the standard GAN with the non-saturating generator loss.

Goodfellow et al. 2014 (loss, §3's -log D(G(z)) trick); optimiser settings of
DCGAN (Radford et al. 2016): Adam lr 2e-4, beta1 0.5.

Variant penalty=r1 adds Mescheder et al. 2018's R1 regulariser, gamma/2 E||grad
D(x)||^2 on the real batch (their "Which training methods for GANs do actually
converge?", §4.1; the setting of their GAN_stability code: this loss, one critic
update per generator update, R1 on every update, their Adam); penalty=r2 puts it
on the fakes instead. lazy=true applies it every 16th critic update with its weight
times 16 (StyleGAN2's lazy regularisation, Karras et al. 2020).

    python launch.py --config=configs/nsgan.py --workdir=runs/nsgan
    python launch.py --config=configs/nsgan.py:dataset=25gaussians --workdir=runs/nsgan_25g
    python launch.py --config=configs/nsgan.py:dataset=cifar10,arch=resnet,penalty=r1 --workdir=runs/nsgan_r1

Variants after the colon: the VARIANTS table below, and augment=none|diffaug|ada
(every recipe: base_config.SHARED_VARIANTS); launch.py --help lists them.
"""

from jaxgan import base_config


VARIANTS = dict(dataset=base_config.DATASETS, arch=base_config.ARCHS,
                penalty=("none", "r1", "r2"), lazy=base_config.FLAG)


def get_config(arg=None):
  opts = base_config.parse_arg(arg, VARIANTS)
  if opts.lazy and opts.penalty == "none":
    raise ValueError("variant lazy=true needs penalty=r1 or penalty=r2 (there is no "
                     "penalty to apply lazily)")
  config = base_config.make(opts.dataset, opts.arch, augment=opts.augment)

  config.loss.name = "non_saturating"  # -log D(G(z)) generator (Goodfellow et al. 2014)
  config.penalty.name = opts.penalty  # none: the unregularised standard GAN; or R1 / R2
  # gamma: R1's weight in GAN_stability's configs is reg_param = 10 on every image
  # dataset, applied as 10 * E||grad||^2 (their compute_grad2, no 1/2), i.e.
  # gamma = 20 in the paper's gamma/2 form, which penalties.squared_gradient_penalty
  # computes; their code produced the published results, so 20 here.
  config.penalty.weight = 20.0 if opts.penalty != "none" else 0.0
  # 16: StyleGAN2's R1 interval (Karras et al. 2020, App. B, lazy regularisation);
  # 1: every update, as Mescheder et al. The penalty joins the critic loss of that
  # update (no separate optimiser step), so StyleGAN2's Adam correction for a
  # separate step does not apply.
  config.penalty.lazy_interval = 16 if opts.lazy else 1
  config.train.n_critic = 1  # one D update per G update (Goodfellow et al. 2014, k = 1)
  if opts.penalty == "none":
    # Adam lr 2e-4, beta1 0.5 (DCGAN, Radford et al. 2016); beta2 Adam's default.
    config.optimizer.critic = base_config.optimizer_config("adam", 2e-4, b1=0.5, b2=0.999)  # D
    config.optimizer.generator = base_config.optimizer_config("adam", 2e-4, b1=0.5, b2=0.999)  # G
  else:
    # GAN_stability's Adam with R1: lr 1e-4 (configs/imagenet.yaml lr_d, lr_g), betas
    # (0, 0.99) (gan_training/config.py), constant rate.
    config.optimizer.critic = base_config.optimizer_config("adam", 1e-4, b1=0.0, b2=0.99)  # D
    config.optimizer.generator = base_config.optimizer_config("adam", 1e-4, b1=0.0, b2=0.99)  # G
  base_config.set_budget(config, "nsgan")
  return config
