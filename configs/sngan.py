"""SNGAN: spectrally normalised critic, hinge loss (Miyato et al. 2018).

"Spectral Normalization for Generative Adversarial Networks": the CIFAR-10
ResNet (generator width 256, critic width 128 with spectral norm on every layer
and global sum pooling; jaxgan/models/resnet.py), the hinge loss, n_critic 5,
Adam 2e-4 with betas (0, 0.9) and the learning rate decayed linearly to 0, batch
64, 100k generator steps (the authors' pfnet-research/sngan_projection config
sn_cifar10_unconditional.yml, with the 100k steps of the issue and of
mimicry's SNGAN CIFAR-10 baseline; the authors' file says 50k).

    python launch.py --config=configs/sngan.py:dataset=cifar10 --workdir=runs/sngan
    python launch.py --config=configs/sngan.py:dataset=folder --config.dataset.path=DIR --workdir=runs/sngan_folder
    python launch.py --config=configs/sngan.py --workdir=runs/sngan_digits

Variants after the colon: the VARIANTS table below, and augment=none|diffaug|ada
(every recipe: base_config.SHARED_VARIANTS); launch.py --help lists them.

Which network each dataset gets (arch=default):
  cifar10           the SNGAN ResNet, at 32x32x3;
  folder            a CPU-sized DCGAN (width 32 at 32x32) with spectral norm on
                    every critic layer; arch=sngan for the paper's ResNet;
  other image sets  (digits, mnist, fashion_mnist, tf_flowers, celeb_a) keep
                    their own size, which the ResNet cannot draw: jaxgan's DCGAN
                    with spectral norm on every critic layer, in the place of the
                    paper's "standard CNN" (not the same layers);
  toy 2-D sets      the MLP, *without* spectral norm (jaxgan normalises conv
                    critics only): the hinge loss with SNGAN's optimiser, which
                    is not SNGAN. Use configs/wgan_gp.py there.
arch=sngan or resnet on another image set resizes it to 32x32x3; arch=dcgan keeps
spectral norm. As the authors' updater.py, every training call of the critic
advances the power iteration (reals, fakes, the generator update's call); with
the ResNets the reals are scaled as their loader does, v/128 - 1 plus
U[0, 1/128). ema=true keeps an EMA of the generator weights (decay 0.9999,
StudioGAN's default; Yazici et al. 2019), sampled and evaluated beside the raw
generator.
"""

from jaxgan import base_config
from jaxgan.data import registry
from jaxgan.models import RESNET_ARCHS


VARIANTS = dict(dataset=base_config.DATASETS, arch=base_config.ARCHS, ema=base_config.FLAG,
                conditional=base_config.CONDITIONALS)


def get_config(arg=None):
  opts = base_config.parse_arg(arg, VARIANTS)
  arch = opts.arch
  if arch == "default":
    info = registry.info(opts.dataset)
    arch = ("mlp" if info.kind == registry.TOY else
            "sngan" if opts.dataset == "cifar10" else "dcgan")
  config = base_config.make(opts.dataset, arch, augment=opts.augment)

  config.loss.name = "hinge"  # D: relu(1 - D(x)) + relu(1 + D(G(z))); G: -D(G(z)) (paper §4)
  config.model.conditional = opts.conditional  # see the module docstring
  # updater.py's _generete_samples: the critic's fakes get uniformly drawn classes.
  config.train.critic_fake_labels = "uniform"
  config.penalty.name = "none"  # the Lipschitz constraint is spectral norm itself
  # Every critic layer spectrally normalised (paper §2); jaxgan's MLP has none.
  config.model.spectral_norm = arch != "mlp"
  config.train.n_critic = 5  # n_dis: 5 (authors' config)
  # Every training call of the critic advances spectral norm's power iteration, as the
  # authors' updater.py (SNConvolution2D writes u whenever chainer.config.train) and
  # mimicry: the reals, the fakes (from the reals' u) and the generator update's call.
  config.model.spectral_norm_iteration = "per_call"
  if arch in RESNET_ARCHS and not base_config.is_toy(config):
    # The authors' CIFAR-10 loader (datasets/cifar10.py): v / 128. - 1. plus
    # U[0, 1/128) per value, so reals stay in [-1, 1).
    config.dataset.pixel_scaling = "half_open"  # their v / 128. - 1. (above)
    config.train.dequantization = 1.0 / 128  # their U[0, 1/128) (above)
  if not base_config.is_toy(config):  # toy sets keep gan_toy.py's batch of 256
    config.train.batch_size = 64  # batchsize: 64 (authors' config)
    # n_gen_samples: 128 (authors' config): the generator update draws 128 fakes,
    # each critic update 64 (mimicry draws 64 for both).
    config.train.generator_batch_size = 128
  # adam alpha 2e-4, beta1 0, beta2 0.9 (authors' config); the rate decays linearly
  # to 0 from the first step (iteration_decay_start: 0) over the run.
  config.optimizer.critic = base_config.optimizer_config(
      "adam", 2e-4, b1=0.0, b2=0.9, schedule="linear")  # critic: Adam and decay above
  config.optimizer.generator = base_config.optimizer_config(
      "adam", 2e-4, b1=0.0, b2=0.9, schedule="linear")  # same as the critic
  config.ema.enabled = opts.ema  # off: the paper reports the raw generator
  # 0.9999 per generator step (StudioGAN's Ema default; Yazici et al. 2019 use
  # 0.999-0.9999). Short runs want less: its horizon is ~10,000 steps.
  config.ema.decay = 0.9999
  # Average from the first step on (the EMA starts as a copy of the weights).
  config.ema.start_step = 0
  base_config.set_budget(config, "sngan")
  return config
