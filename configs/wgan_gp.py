"""WGAN-GP: Wasserstein loss + gradient penalty on real/fake interpolates.

Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", Alg. 1; toy
settings from the authors' gan_toy.py; with arch=resnet, their CIFAR-10 ResNet
and its hyperparameters (gan_cifar_resnet.py); with conditional=acgan as well,
their AC-WGAN-GP (the script's default: CONDITIONAL=True, ACGAN=True).

    python launch.py --config=configs/wgan_gp.py --workdir=runs/wgan_gp
    python launch.py --config=configs/wgan_gp.py:dataset=25gaussians --workdir=runs/wgan_gp_25g
    python launch.py --config=configs/wgan_gp.py:dataset=cifar10,arch=resnet --workdir=runs/wgan_gp_resnet
    python launch.py --config=configs/wgan_gp.py:conditional=acgan --workdir=runs/acwgan_gp_digits
    python launch.py --config=configs/wgan_gp.py:dataset=cifar10,arch=resnet,conditional=acgan --workdir=runs/acwgan_gp

Variants after the colon: the VARIANTS table below, and augment=none|diffaug|ada
(every recipe: base_config.SHARED_VARIANTS); launch.py --help lists them.

arch=resnet (or sngan) trains at 32x32x3 whatever the dataset (others resized)
with gan_cifar_resnet.py's settings: Adam 2e-4, betas (0, 0.9), learning rate
decayed linearly to 0 over the run (100k generator steps), critic batch 64,
generator batch 128, the reals scaled as theirs (v/128 - 1) plus dequantisation
noise U[0, 1/128), and samples and evaluations drawn with each batch of 100
normalised by its own BatchNorm statistics, as their code draws them.

conditional=none|acgan|projection (labelled data: digits, mnist, fashion_mnist,
cifar10, tf_flowers, a folder of class sub-folders): a class-conditional
generator and an AC-GAN or projection critic (jaxgan/models/conditional.py),
everything else as the unconditional recipe. AC-GAN as gan_cifar_resnet.py:
critic loss + 1.0 x cross-entropy on the real labels (ACGAN_SCALE), generator
loss + 0.1 x cross-entropy on its labels (ACGAN_SCALE_G), the critic's fakes
drawn for the real batch's labels. Projection follows Miyato & Koyama 2018 on
the WGAN-GP critic (not in the WGAN-GP authors' code), with the same labels.
"""

from jaxgan import base_config
from jaxgan.models import RESNET_ARCHS


VARIANTS = dict(dataset=base_config.DATASETS, arch=base_config.ARCHS,
                conditional=base_config.CONDITIONALS)


def get_config(arg=None):
  opts = base_config.parse_arg(arg, VARIANTS)
  config = base_config.make(opts.dataset, opts.arch, augment=opts.augment)
  config.model.conditional = opts.conditional  # see the module docstring
  config.loss.acgan_scale = 1.0  # ACGAN_SCALE = 1. (gan_cifar_resnet.py)
  config.loss.acgan_scale_g = 0.1  # ACGAN_SCALE_G = 0.1 (gan_cifar_resnet.py)
  # The critic's fakes are generated for the real batch's labels (gan_cifar_resnet.py:
  # Generator(BATCH_SIZE, labels_splits[i])).
  config.train.critic_fake_labels = "real"
  toy = base_config.is_toy(config)
  resnet = config.model.arch in RESNET_ARCHS

  config.loss.name = "wasserstein"  # paper eq. 3, first two terms
  config.penalty.name = "wgan_gp"  # penalty on real/fake interpolates (Alg. 1)
  # lambda = 10 (paper, all image experiments); gan_toy.py uses LAMBDA = .1.
  config.penalty.weight = 0.1 if toy else 10.0
  config.penalty.target = 1.0  # paper eq. 3
  config.train.n_critic = 5  # paper Alg. 1, n_critic = 5 (gan_cifar_resnet.py N_CRITIC too)
  base_config.set_budget(config, "wgan_gp")
  if resnet:
    _resnet_settings(config)
    return config
  # Adam alpha = 1e-4, beta2 = 0.9 (paper Alg. 1). beta1: the paper's Alg. 1 says 0;
  # the authors' released code (gan_toy/gan_mnist/gan_cifar.py) uses 0.5. We follow
  # the code, which produced the published results.
  # Schedule: constant on images (gan_cifar.py / gan_mnist.py). Toy sets: linear decay
  # to 0 over the run, the authors' own schedule in gan_cifar_resnet.py (DECAY), not
  # gan_toy.py's constant rate: it raised the share of high-quality samples on both
  # 8gaussians and 25gaussians (benchmarks/results/toy_table.md, rows "lin5k" against
  # the constant-rate rows).
  schedule = "linear" if toy else "constant"
  config.optimizer.critic = base_config.optimizer_config(
      "adam", 1e-4, b1=0.5, b2=0.9, schedule=schedule)  # critic: Adam and schedule above
  config.optimizer.generator = base_config.optimizer_config(
      "adam", 1e-4, b1=0.5, b2=0.9, schedule=schedule)  # same as the critic (Alg. 1)
  return config


def _resnet_settings(config):
  """gan_cifar_resnet.py's hyperparameters (igul222/improved_wgan_training)."""
  # Adam LR = 2e-4, beta1 = 0., beta2 = 0.9, both networks; DECAY = True: the rate
  # falls linearly to 0 over ITERS = 100,000 generator iterations (the run's length,
  # optimizer.decay_steps).
  config.optimizer.critic = base_config.optimizer_config(
      "adam", 2e-4, b1=0.0, b2=0.9, schedule="linear")  # critic: Adam and decay above
  config.optimizer.generator = base_config.optimizer_config(
      "adam", 2e-4, b1=0.0, b2=0.9, schedule="linear")  # same as the critic (their code)
  config.train.batch_size = 64  # BATCH_SIZE = 64: the critic's batch
  config.train.generator_batch_size = 128  # GEN_BS_MULTIPLE = 2: 2 x 64 per generator update
  # 2*((all_real_data_int/256.)-.5): pixels v to v/128 - 1, in [-1, 1 - 2/256]
  # (toy points are no pixels: validation then names the ResNet's 32x32x3 instead).
  if not base_config.is_toy(config):
    config.dataset.pixel_scaling = "half_open"  # their v/128 - 1 (above)
  # all_real_data += U[0, 1/128): one 8-bit level of that scaling, so reals stay in [-1, 1).
  config.train.dequantization = 1.0 / 128
  # Samples and Inception scores from Generator(100, ...) with tflib's batchnorm, which
  # always normalises with the batch's own statistics: never the running averages.
  config.model.sample_bn_stats = "batch"
