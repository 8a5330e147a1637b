"""Shared pieces of the recipes: variant parsing and the per-dataset base config.

A recipe is `configs/<name>.py` with `get_config(arg=None)`. `arg` is the text
after the colon in `--config=configs/wgan_gp.py:dataset=25gaussians,arch=mlp`;
`parse_arg` turns it into typed options and rejects unknown keys or values.
"""

from __future__ import annotations

import ml_collections
from ml_collections import config_dict

IMAGE_DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "tf_flowers", "celeb_a",
                  "folder")
TOY_DATASETS = ("8gaussians", "25gaussians", "swissroll")
DATASETS = IMAGE_DATASETS + TOY_DATASETS

# Native (or customary) training resolution per dataset.
_IMAGE_SIZE = {
    "digits": 8,          # scikit-learn's 8x8 digits, used as is
    "mnist": 28, "fashion_mnist": 28,
    "cifar10": 32,
    "tf_flowers": 64,     # resized; 64x64 is the DCGAN / WGAN-GP "64x64" setting
    "celeb_a": 64,        # centre crop + resize, as in DCGAN's CelebA runs
    "folder": 64,
}


def parse_arg(arg: str | None, **defaults):
  """'dataset=mnist,arch=dcgan' -> ConfigDict of options, typed like `defaults`.

  Raises ValueError naming an unknown key, listing the allowed ones.
  """
  options = dict(defaults)
  if arg:
    for item in arg.split(","):
      if not item.strip():
        continue
      key, sep, value = item.partition("=")
      key = key.strip()
      if not sep or key not in defaults:
        raise ValueError(
            f"bad config variant {item!r}; expected key=value with key in "
            f"{sorted(defaults)}")
      kind = type(defaults[key])
      if kind is bool:
        options[key] = value.strip().lower() in ("1", "true", "yes")
      else:
        options[key] = kind(value.strip())
  return ml_collections.ConfigDict(options)


def check_choice(name: str, value: str, allowed) -> None:
  if value not in allowed:
    raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")


def base_config(dataset: str, arch: str) -> ml_collections.ConfigDict:
  """Everything but the loss, penalty and optimizers, which each recipe sets."""
  check_choice("dataset", dataset, DATASETS)
  is_toy = dataset in TOY_DATASETS
  if arch == "default":
    # 8x8 digits: a DCGAN has a single 4->8 block there and gave visibly worse
    # digits than an MLP in the same CPU budget (held-out-classifier confidence
    # 0.68 vs 0.82), while a 2->4->8 DCGAN ran 20x slower on XLA:CPU (README).
    arch = "mlp" if is_toy or dataset == "digits" else "dcgan"
  check_choice("arch", arch, ("mlp", "dcgan"))

  config = ml_collections.ConfigDict()
  config.seed = 0  # the run's one PRNG key is PRNGKey(seed)

  config.dataset = ml_collections.ConfigDict()
  config.dataset.name = dataset  # see DATASETS; chosen by the dataset= variant
  config.dataset.data_dir = ""  # TFDS data_dir; "" = TFDS's default (~/tensorflow_datasets)
  config.dataset.path = ""  # image folder for dataset.name="folder"
  config.dataset.image_size = _IMAGE_SIZE.get(dataset, 0)  # square side; unused by toy data
  config.dataset.shuffle_buffer = 10_000  # tf.data shuffle buffer (examples)

  config.model = ml_collections.ConfigDict()
  config.model.arch = arch  # mlp | dcgan
  # Toy: 2-D latent as in the WGAN-GP authors' gan_toy.py; images: DCGAN-style 128
  # (WGAN-GP's gan_mnist/gan_cifar use 128) except the tiny 8x8 digits (64).
  config.model.z_dim = 2 if is_toy else (64 if dataset == "digits" else 128)
  # MLP hidden widths: gan_toy.py's 3 x 512 ReLU; 8x8 digits (64 pixels) 3 x 256,
  # 3x faster than 512 at equal sample quality here; other images the seeds' 784.
  config.model.hidden = ((512, 512, 512) if is_toy else
                         (256, 256, 256) if dataset == "digits" else (784, 784, 784))
  # DCGAN base width ("DIM" in the WGAN-GP code: 64).
  config.model.width = 64
  # Generator upsampling: conv + depth_to_space is ~3x faster than ConvTranspose on
  # XLA:CPU at equal shapes (DESIGN.md); "conv_transpose" reproduces the seeds.
  config.model.upsample = "depth_to_space"
  config.model.generator_batch_norm = True  # DCGAN generator BatchNorm (Radford et al.)
  # flax momentum = 1 - PyTorch momentum; 0.9 matches PyTorch's default 0.1.
  config.model.bn_momentum = 0.9
  # Critic normalisation: none (WGAN-GP §4 forbids BatchNorm; layer is the
  # paper's suggested drop-in).
  config.model.critic_norm = "none"
  # How the critic's 4x4 stride-2 convs are computed (same parameters, same values):
  # strided (nn.Conv) | space_to_depth (pad + space_to_depth + 2x2 stride-1 conv).
  # Measured (XLA:CPU, jaxlib 0.10.2, interleaved): space_to_depth 0.77x the strided
  # speed on the WGAN-GP DCGAN32 step (benchmarks/step_throughput.py row
  # 2.critic_conv), 0.83x on the DRAGAN step. So strided.
  config.model.critic_conv = "strided"
  # How model.upsample="conv_transpose" is computed (same parameters, same values):
  # lax (nn.ConvTranspose) | subpixel (four 2x2 stride-1 convs + depth_to_space).
  # Measured (upsample=conv_transpose, interleaved): subpixel 1.15x lax on the
  # WGAN-GP DCGAN32 step (step_throughput.py rows 2.upsample vs 2.upsample_impl),
  # 1.5x on the DRAGAN step. So subpixel.
  config.model.conv_transpose_impl = "subpixel"

  config.loss = ml_collections.ConfigDict()
  config.loss.name = "wasserstein"  # jaxgan.losses.LOSS_NAMES; each recipe sets its own
  config.loss.options = ml_collections.ConfigDict()  # keyword options of the loss

  config.penalty = ml_collections.ConfigDict()
  config.penalty.name = "none"  # none | wgan_gp | dragan
  config.penalty.weight = 0.0  # lambda
  config.penalty.target = 1.0  # k: the gradient norm pulled towards (1 in both papers)
  config.penalty.one_sided = False  # max(0, ||g|| - k)^2 (WGAN-GP App. / Petzka et al.)
  # double_backward (nested jax.grad) or jvp (reverse-over-forward): equal values and
  # gradients. Measured here (benchmarks/step_throughput.py, critic update alone):
  # DCGAN32 critic jvp 8.3 vs double_backward 2.8 updates/s; toy MLP critic jvp 93
  # vs double_backward 107 updates/s. So: jvp for conv critics, double_backward for MLPs.
  config.penalty.method = "jvp" if arch == "dcgan" else "double_backward"
  # DRAGAN penalty points: gaussian (paper) | std_uniform (authors' code).
  config.penalty.perturbation = "std_uniform"
  config.penalty.noise_variance = 10.0  # gaussian: delta ~ N(0, c I), paper's c ~ 10
  config.penalty.noise_scale = 0.5  # std_uniform: x + 0.5 std(x) U[0,1] (authors' code)

  config.train = ml_collections.ConfigDict()
  config.train.num_steps = 100_000  # generator updates (recipes override)
  config.train.batch_size = 256 if is_toy else 64  # global; gan_toy.py 256, WGAN-GP images 64
  config.train.n_critic = 5  # critic updates per generator update
  config.train.weight_clip = config_dict.placeholder(float)  # WGAN only; None = off
  # lax.fori_loop unroll for the critic loop; 0 = per-backend default (CPU: fully
  # unrolled, ~18x faster than rolled on XLA:CPU per DESIGN.md; others: rolled).
  # Toy MLP step: rolled (1), 1.08-1.18x faster than unrolled on XLA:CPU in three runs
  # on two machines (benchmarks/step_throughput.py: 10.4 vs 9.66 it/s; 10.4 vs 8.89;
  # 18.4 vs 15.6), 60% of the compile time; the digits MLP and DCGANs keep 0
  # (digits rolled 79.1 vs 82.7 it/s; DCGAN32 rolled 0.029 vs 0.93 it/s).
  config.train.critic_unroll = 1 if is_toy else 0

  config.optimizer = ml_collections.ConfigDict()
  # Placeholders (WGAN-GP's Adam 1e-4, 0.5, 0.9); every recipe sets its own.
  config.optimizer.critic = optimizer_config("adam", 1e-4, b1=0.5, b2=0.9)  # critic
  config.optimizer.generator = optimizer_config("adam", 1e-4, b1=0.5, b2=0.9)  # generator

  config.ema = ml_collections.ConfigDict()
  config.ema.enabled = False  # EMA of generator weights (off in the seed-faithful recipes)
  config.ema.decay = 0.999  # Yazici et al. 2019 use 0.999 - 0.9999
  config.ema.start_step = 0  # before this step the EMA just copies the weights

  config.eval = ml_collections.ConfigDict()
  # Generated samples per evaluation: 2,500 as in the VEEGAN / Unrolled GAN toy protocol.
  config.eval.num_samples = 2500
  config.eval.hq_sigmas = 3.0  # "high quality" = within 3 std of a mode (VEEGAN, Metz et al.)
  # Stricter coverage: a mode / class needs >= 1% of the samples (issue 4; PacGAN-style).
  config.eval.strict_fraction = 0.01
  config.eval.num_projections = 1000  # sliced Wasserstein directions (toy sets, 2-D)
  # RBF MMD^2 length scales (toy sets), e.g. (0.05, 0.2, 1.0) for data spanning
  # ~[-2, 2]; () = off: at 2,500 samples it costs ~2 s per evaluation on 2 CPU cores
  # against ~0.3 s for the sliced Wasserstein distance, which is always reported.
  config.eval.mmd_bandwidths = ()
  # KID subsets x size: Binkowski et al.'s reference code (100 x 1000, clamped to the data).
  config.eval.kid_subsets = 100  # subsets averaged (reference code: 100)
  config.eval.kid_subset_size = 1000  # examples per subset (reference code: 1000)
  # Where the evaluation classifier is cached; "" = beside the data
  # (<dataset.data_dir or ~/tensorflow_datasets>/jaxgan_classifiers), shared by all runs.
  # The Inception reference statistics are cached there too.
  config.eval.classifier_dir = ""
  # FID Inception-v3 metrics (FID, IS, KID, precision/recall/density/coverage; image
  # datasets): path to pytorch-fid's pt_inception-2015-12-05-6726825d.pth or the .npz
  # jaxgan converts it to; "" = off (the classifier metrics remain). Never downloaded.
  config.eval.inception_weights = ""
  # Generated images per Inception evaluation, scored against the whole training split:
  # 10,000 during a run (FID-10k); the papers' 50,000 (Salimans et al.'s IS, most FID
  # tables) on demand with --mode=eval, since on a CPU each 10,000 cost tens of minutes
  # (benchmarks/results/fid_speed.md).
  config.eval.inception_num_samples = 10_000
  # Images per compiled Inception call; 0 = per backend: CPU 10 (faster than 50 there,
  # benchmarks/results/fid_speed.md), accelerators 200 (not measured here).
  config.eval.inception_batch_size = 0
  # Real pool3 features kept for KID and PRDC: 10,000 (Naeem et al. 2020's real set).
  config.eval.inception_real_features = 10_000
  config.eval.is_splits = 10  # Inception-score splits (Salimans et al.'s code)
  config.eval.prdc_k = 5  # precision/recall/density/coverage neighbours (Naeem et al.)

  config.log = ml_collections.ConfigDict()
  config.log.every = 100  # steps between metrics.jsonl lines / progress lines
  config.log.sample_every = 1000  # steps between sample grids
  config.log.checkpoint_every = 1000  # steps between checkpoints
  config.log.eval_every = 0  # steps between evaluations (+ the last step); 0 = never
  config.log.max_checkpoints = 3  # newest checkpoints kept
  config.log.num_samples = 100  # size of the fixed latent batch (a 10x10 grid)
  return config


def optimizer_config(name, learning_rate, *, b1=0.9, b2=0.999, decay=0.99, eps=1e-8,
                     schedule="constant"):
  """An optimizer block. adam uses b1/b2/eps; rmsprop uses decay/eps (PyTorch's alpha)."""
  opt = ml_collections.ConfigDict()
  opt.name = name  # adam | rmsprop
  opt.learning_rate = learning_rate  # step size (schedule peak)
  opt.b1 = b1  # adam: first-moment decay
  opt.b2 = b2  # adam: second-moment decay
  opt.decay = decay  # rmsprop: squared-gradient decay (torch RMSprop alpha, 0.99)
  opt.eps = eps  # adam: inside the denominator; rmsprop: outside the sqrt, as torch
  opt.schedule = schedule  # constant | linear (decay to 0, as WGAN-GP's CIFAR code)
  return opt


def is_toy(config) -> bool:
  return config.dataset.name in TOY_DATASETS


# Generator updates per (recipe, dataset kind). The image datasets use the papers'
# budgets; digits and the toy sets use CPU budgets measured on a 2-core machine
# (see README, "Default run").
_PAPER_STEPS = {"wgan": 100_000, "wgan_gp": 100_000, "dragan": 100_000,
                "lsgan": 100_000, "nsgan": 100_000}
_DIGITS_STEPS = {"wgan": 10_000, "wgan_gp": 10_000, "dragan": 10_000, "lsgan": 10_000,
                 "nsgan": 10_000}
# Toy: 3,000 steps; WGAN-GP and DRAGAN, whose toy recipes decay the learning rate
# linearly to 0, 20,000: their share of high-quality samples rose with the length
# of the decay (8gaussians WGAN-GP 88.9 / 94.6 / 97.0% at 5k / 10k / 20k steps,
# DRAGAN 81.2 / 92.4 / 97.0%; 25gaussians WGAN-GP 42.5 / 60.2% at 5k / 10k;
# benchmarks/toy_table.py). 20k steps took 59 min (WGAN-GP) and 16 min (DRAGAN)
# pinned to one core of this CPU; gan_toy.py trains 100k.
_TOY_STEPS = {"wgan": 3000, "wgan_gp": 20_000, "dragan": 20_000, "lsgan": 3000,
              "nsgan": 3000}


def set_budget(config, recipe: str) -> None:
  """Sets train.num_steps and the log intervals for `recipe` on config's dataset."""
  name = config.dataset.name
  if name in TOY_DATASETS:
    steps = _TOY_STEPS[recipe]
  elif name == "digits":
    steps = _DIGITS_STEPS[recipe]
  else:
    steps = _PAPER_STEPS[recipe]
  config.train.num_steps = steps  # generator updates (see the tables above)
  config.log.every = max(steps // 50, 1)  # fifty progress lines / metrics rows per run
  every = max(steps // 10, 1)
  config.log.sample_every = every  # ten sample grids per run
  config.log.checkpoint_every = every  # ten checkpoints per run (newest kept)
  # Ten evaluations per run (jaxgan/evaluate.py): ~1 s each on the toy sets; on
  # labelled images the first also trains the cached evaluation classifier once.
  config.log.eval_every = every
