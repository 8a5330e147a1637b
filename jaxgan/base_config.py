"""The base config every recipe starts from, and the recipes' shared pieces.

A recipe is `configs/<name>.py` with `get_config(arg=None)` and a VARIANTS table.
`arg` is the text after the colon in
`--config=configs/wgan_gp.py:dataset=25gaussians,arch=mlp`; `parse_arg` turns it
into options by the table and rejects unknown keys or values; `launch.py --help`
lists the same table. `make(dataset, arch)` holds every key a recipe has, so it
lives in the package: an installed jaxgan fills in the keys an old run's
config.json lacks from it (jaxgan/config_io.py).
"""

from __future__ import annotations

import ml_collections
from ml_collections import config_dict

from jaxgan import augment as augment_lib
from jaxgan import models
from jaxgan.data import registry


# Variant choices shared by the recipes; the first value of each is the default.
DATASETS = registry.NAMES  # dataset=: the datasets jaxgan knows (digits first)
ARCHS = ("default",) + models.ARCHS  # arch=: default picks per dataset (make)
CONDITIONALS = models.CONDITIONALS  # conditional=: none | acgan | projection
FLAG = (False, True)  # a yes/no variant
AUGMENTS = augment_lib.NAMES  # augment=: none | diffaug | ada
# Variants every recipe takes beside its own VARIANTS (parse_arg adds them; each
# recipe hands them to make).
SHARED_VARIANTS = dict(augment=AUGMENTS)


def parse_arg(arg: str | None, variants: dict) -> ml_collections.ConfigDict:
  """'dataset=mnist,arch=dcgan' -> ConfigDict of options, from a recipe's VARIANTS.

  `variants` maps each key to its allowed values, the default first. Raises
  ValueError naming an unknown key or value and listing the allowed ones.
  """
  variants = {**variants, **SHARED_VARIANTS}
  options = {key: allowed[0] for key, allowed in variants.items()}
  for item in (arg or "").split(","):
    if not item.strip():
      continue
    key, sep, text = item.partition("=")
    key, text = key.strip(), text.strip()
    if not sep or key not in variants:
      raise ValueError(f"bad config variant {item!r}; expected key=value with key in "
                       f"{sorted(variants)}")
    allowed = variants[key]
    if allowed == FLAG:
      value = {"true": True, "1": True, "yes": True, "false": False, "0": False,
               "no": False}.get(text.lower(), text)
    else:
      value = text
    if value not in allowed:
      raise ValueError(f"unknown {key} {text!r}; allowed: "
                       f"{', '.join(str(v).lower() for v in allowed)}")
    options[key] = value
  return ml_collections.ConfigDict(options)


def describe_variants(variants: dict) -> str:
  """'dataset=digits|mnist|..., arch=...' for --help (defaults first)."""
  return ", ".join(f"{key}=" + "|".join(str(v).lower() for v in allowed)
                   for key, allowed in {**variants, **SHARED_VARIANTS}.items())


def check_choice(name: str, value: str, allowed) -> None:
  if value not in allowed:
    raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")


def make(dataset: str, arch: str, augment: str = "none") -> ml_collections.ConfigDict:
  """Everything but the loss, penalty and optimizers, which each recipe sets;
  `augment` is the augment= variant (SHARED_VARIANTS)."""
  dataset_info = registry.info(dataset)  # the dataset table: kinds, default sizes
  is_toy = dataset_info.kind == registry.TOY
  if arch == "default":
    # 8x8 digits: a DCGAN has a single 4->8 block there and drew worse digits than
    # an MLP in the same CPU budget, and a deeper one ran far slower on XLA:CPU
    # (benchmarks/results/notes.md, "Why the digits default is an MLP").
    arch = "mlp" if is_toy or dataset == "digits" else "dcgan"
  check_choice("arch", arch, models.ARCHS)

  config = ml_collections.ConfigDict()
  config.seed = 0  # the run's one PRNG key is PRNGKey(seed)

  config.dataset = ml_collections.ConfigDict()
  # See jaxgan/data/registry.py; chosen by the dataset= variant.
  config.dataset.name = dataset
  config.dataset.data_dir = ""  # TFDS data_dir; "" = TFDS's default (~/tensorflow_datasets)
  config.dataset.path = ""  # image folder for dataset.name="folder"
  # The CIFAR-10 ResNets draw 32x32 colour images: with them, other image sets are
  # resized (and grey ones repeated) to 32x32x3; toy data is left to validation.
  resnet = arch in models.RESNET_ARCHS and not is_toy
  # Square side: the registry's native (or customary) resolution; 0 for toy data;
  # 32 for the ResNets.
  config.dataset.image_size = 32 if resnet else dataset_info.image_size
  # Image channels: 0 = from the data (the registry's, or for a folder 1 if every
  # image is grey, else 3); 1 or 3 forces it (grey repeated / colour to luma); 3
  # for the ResNets.
  config.dataset.channels = 3 if resnet else 0
  config.dataset.shuffle_buffer = 10_000  # tf.data shuffle buffer (examples)
  # How the critic sees 8-bit pixels v in training (jaxgan/train.py): "closed" v / 127.5
  # - 1, in [-1, 1] (the WGAN-GP authors' gan_cifar.py and gan_64x64.py, 2(v/255 - 0.5);
  # torchvision's Normalize(0.5, 0.5) in mimicry); "half_open" v / 128 - 1 =
  # 2(v/256 - 0.5), in [-1, 1 - 2/256] and with dequantisation U[0, 1/128) still
  # below 1 (gan_cifar_resnet.py; SNGAN's datasets/cifar10.py: v / 128 - 1). Data
  # and evaluation keep the closed convention: samples are mapped back to it.
  config.dataset.pixel_scaling = "closed"

  config.model = ml_collections.ConfigDict()
  config.model.arch = arch  # mlp | dcgan | resnet | sngan (jaxgan/models/__init__.py)
  # Toy: 2-D latent as in the WGAN-GP authors' gan_toy.py; images: DCGAN-style 128
  # (WGAN-GP's gan_mnist/gan_cifar use 128) except the tiny 8x8 digits (64).
  config.model.z_dim = 2 if is_toy else (64 if dataset == "digits" else 128)
  # MLP hidden widths: gan_toy.py's 3 x 512 ReLU; 8x8 digits (64 pixels) 3 x 256,
  # several times faster than 512 at equal sample quality; other images the seeds' 784.
  config.model.hidden = ((512, 512, 512) if is_toy else
                         (256, 256, 256) if dataset == "digits" else (784, 784, 784))
  # Conv base width ("DIM" in the WGAN-GP code: 64 for the DCGAN, 128 for the ResNet).
  # A folder's DCGAN is CPU-sized (32 at the folder's 32x32): it trains in minutes
  # on a CPU; the WGAN-GP DCGAN (64 at 64x64) is FOLDER_ACCELERATOR's overrides.
  config.model.width = (128 if arch in ("resnet", "sngan") else
                        32 if dataset == registry.FOLDER else 64)
  # Generator width when it differs from the critic's; 0 = model.width (SNGAN: 256).
  config.model.generator_width = 256 if arch == "sngan" else 0
  # Spectral norm on every critic layer (Miyato et al. 2018): SNGAN's critic; an
  # option for the DCGAN and WGAN-GP ResNet critics.
  config.model.spectral_norm = arch == "sngan"
  # Which critic calls advance spectral norm's power iteration (jaxgan/train.py):
  # "per_update" once per critic update, reals, fakes and penalty points all from the
  # incoming u (Miyato et al. 2018, Algorithm 1); "per_call" every training call, as
  # the SNGAN authors' updater.py (each SNConvolution2D.W_bar call writes u) and
  # mimicry (SpectralNorm in training mode): reals, then fakes from the reals' u,
  # and the generator update's call. The SNGAN recipe sets per_call.
  config.model.spectral_norm_iteration = "per_update"
  # Compute dtype of both networks: float32, or bfloat16 (mixed precision: float32
  # parameters, optimizer states, losses and penalty norms).
  config.model.dtype = "float32"
  # Generator upsampling: depth_to_space (3x3 conv + pixel shuffle) or conv_transpose
  # (the seeds' 4x4 stride-2 transposed conv). Equally fast on XLA:CPU once
  # conv_transpose is computed per output phase (benchmarks/results/step_throughput.md,
  # rows 2 and 2.upsample); depth_to_space stays the default so existing runs resume.
  config.model.upsample = "depth_to_space"
  config.model.generator_batch_norm = True  # DCGAN generator BatchNorm (Radford et al.)
  # flax momentum = 1 - PyTorch momentum; 0.9 matches PyTorch's default 0.1.
  config.model.bn_momentum = 0.9
  # BatchNorm epsilon: 1e-5 (PyTorch's and TF's fused default); SNGAN's Chainer 2e-5.
  config.model.bn_epsilon = 2e-5 if arch == "sngan" else 1e-5
  # What BatchNorm's running variance averages (jaxgan/models/layers.py): "unbiased",
  # m/(m-1) x the batch variance (PyTorch, Chainer, TF's fused batch norm), or
  # "biased", the batch variance (flax.linen.BatchNorm; jaxgan before this key).
  config.model.bn_running_var = "unbiased"
  # BatchNorm statistics when sampling and evaluating (jaxgan/sample.py): "running"
  # averages (SNGAN's Chainer code in test mode, PyTorch's eval()), or "batch": each
  # batch of 100 samples normalised with its own statistics, as the WGAN-GP authors'
  # gan_cifar_resnet.py draws every sample and Inception-score batch (Generator(100)
  # with tflib batchnorm always in training mode). Recipes set batch where theirs do.
  config.model.sample_bn_stats = "running"
  # Critic normalisation: none (WGAN-GP §4 forbids BatchNorm; layer is the
  # paper's suggested drop-in).
  config.model.critic_norm = "none"
  # Class conditioning (jaxgan/models/conditional.py): none | acgan (AC-GAN head on the
  # critic, Odena et al. 2017, as gan_cifar_resnet.py's ACGAN=True) | projection
  # (projection critic, Miyato & Koyama 2018). Either makes the generator
  # class-conditional; the classes come from the (labelled) data.
  config.model.conditional = "none"

  config.loss = ml_collections.ConfigDict()
  config.loss.name = "wasserstein"  # jaxgan.losses.LOSS_NAMES; each recipe sets its own
  config.loss.options = ml_collections.ConfigDict()  # keyword options of the loss
  # AC-GAN weights (model.conditional="acgan"), gan_cifar_resnet.py's ACGAN_SCALE and
  # ACGAN_SCALE_G: the critic's cross-entropy on the real labels, the generator's on
  # the labels it was asked for.
  config.loss.acgan_scale = 1.0  # critic: ACGAN_SCALE = 1.
  config.loss.acgan_scale_g = 0.1  # generator: ACGAN_SCALE_G = 0.1

  config.penalty = ml_collections.ConfigDict()
  config.penalty.name = "none"  # none | wgan_gp | dragan | r1 | r2
  config.penalty.weight = 0.0  # lambda (wgan_gp, dragan) or gamma (r1, r2)
  config.penalty.target = 1.0  # k: the gradient norm pulled towards (1 in both papers)
  config.penalty.one_sided = False  # max(0, ||g|| - k)^2 (WGAN-GP App. / Petzka et al.)
  # double_backward (nested jax.grad) or jvp (reverse-over-forward): equal values and
  # gradients; jvp is the faster on the DCGAN critic, double_backward on MLPs
  # (benchmarks/results/step_throughput.md, rows 5.*). The ResNet critics keep
  # double_backward: with stride-1 convs and mean pools there is no strided-conv
  # backward for jvp to avoid; the two ran equally fast within noise and jvp
  # counts more FLOPs (rows 5.6.* and 6.method; SNGAN's critic likewise).
  config.penalty.method = "jvp" if arch == "dcgan" else "double_backward"
  # DRAGAN penalty points: gaussian (paper) | std_uniform (authors' code).
  config.penalty.perturbation = "std_uniform"
  config.penalty.noise_variance = 10.0  # gaussian: delta ~ N(0, c I), paper's c ~ 10
  config.penalty.noise_scale = 0.5  # std_uniform: x + 0.5 std(x) U[0,1] (authors' code)
  # Lazy regularisation (StyleGAN2, Karras et al. 2020): apply the penalty every k
  # critic updates with its weight times k; 1 = every update (the papers' own).
  config.penalty.lazy_interval = 1

  # What the critic sees of reals and fakes (the augment= variant; augment_config).
  config.augment = augment_config(augment)

  config.train = ml_collections.ConfigDict()
  # Generator updates (recipes set it, see set_budget). The log intervals, the
  # schedule horizon and the evaluations below follow it until set explicitly, so
  # --config.train.num_steps=3000 on a 100k recipe still logs fifty times.
  config.train.num_steps = config_dict.FieldReference(100_000)
  steps = config.train.get_ref("num_steps")
  config.train.batch_size = 256 if is_toy else 64  # global; gan_toy.py 256, WGAN-GP images 64
  config.train.n_critic = 5  # critic updates per generator update
  # Examples per generator update; 0 = train.batch_size. The WGAN-GP authors' CIFAR
  # ResNet uses twice the critic's (gan_cifar_resnet.py GEN_BS_MULTIPLE = 2).
  config.train.generator_batch_size = 0
  # Uniform noise U[0, d) added to real images per value (d = 1/128 in the WGAN-GP
  # authors' CIFAR ResNet: one 8-bit level of their [-1, 1) scaling); 0 = off.
  config.train.dequantization = 0.0
  config.train.weight_clip = config_dict.placeholder(float)  # WGAN only; None = off
  # Conditional runs: the classes of the critic's fakes. "real": the real batch's
  # labels (gan_cifar_resnet.py); "uniform": drawn uniformly (SNGAN's updater.py).
  # The generator update always draws its classes uniformly (both codes).
  config.train.critic_fake_labels = "real"
  # lax.fori_loop unroll for the critic loop; 0 = per-backend default (CPU: fully
  # unrolled, since a rolled loop runs the DCGAN step many times slower on XLA:CPU;
  # others: rolled). The toy MLP step runs faster and compiles sooner rolled (1);
  # the digits MLP is a wash (benchmarks/results/step_throughput.md, rows 1.unroll,
  # 2.rolled, 3.unroll).
  config.train.critic_unroll = 1 if is_toy else 0

  config.optimizer = ml_collections.ConfigDict()
  # Generator steps over which a "linear" schedule decays to 0 (the critic's over
  # n_critic times as many updates): the run's length, as in the WGAN-GP authors'
  # gan_cifar_resnet.py, unless set. Set it to try a recipe's first steps, or to
  # extend a run without re-sizing its decay.
  config.optimizer.decay_steps = follow(steps)
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
  # Stricter coverage: a mode / class needs >= 1% of the samples (PacGAN-style).
  config.eval.strict_fraction = 0.01
  config.eval.num_projections = 1000  # sliced Wasserstein directions (toy sets, 2-D)
  # RBF MMD^2 length scales (toy sets), e.g. (0.05, 0.2, 1.0) for data spanning
  # ~[-2, 2]; () = off: it costs several times the sliced Wasserstein distance,
  # which is always reported.
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
  # Intervals follow train.num_steps until set. Progress lines also come at least
  # every 30 s of training, whatever log.every is.
  config.log.every = follow(steps, 50)  # steps between metrics.jsonl lines (50 per run)
  config.log.sample_every = follow(steps, 10)  # steps between sample grids (10 per run)
  config.log.checkpoint_every = follow(steps, 10)  # steps between checkpoints (10 per run)
  # Steps between evaluations (+ the last step; 0 = never): ten per run, but at
  # least EVAL_MIN_INTERVAL steps apart, so that a short run is mostly training
  # (a 400-step run evaluates once, at its end). jaxgan/eval/; the first on a
  # labelled image dataset also trains and caches the evaluation classifier once.
  config.log.eval_every = steps._apply_op(eval_interval)  # pylint: disable=protected-access
  config.log.max_checkpoints = 3  # newest checkpoints kept
  config.log.num_samples = 100  # size of the fixed latent batch (a 10x10 grid)

  config.population = ml_collections.ConfigDict()
  # Independent runs trained together by one compiled step (jaxgan/population.py).
  # Seeds per sweep combination: seed, seed+1, ..., seed+size-1; members = size x
  # the sweep's combinations. 1 with no sweep: a single run, no member axis.
  config.population.size = 1
  config.population.sweep = ml_collections.ConfigDict()
  # Per-member values of the step's scalar hyperparameters, crossed with each other
  # and with the seeds (--config.population.sweep.penalty_weight=0.1,1,10); () = the
  # config's own value for every member. Each replaces the key named beside it.
  config.population.sweep.penalty_weight = ()  # penalty.weight (lambda; R1/R2 gamma)
  config.population.sweep.noise_variance = ()  # penalty.noise_variance (DRAGAN gaussian)
  config.population.sweep.noise_scale = ()  # penalty.noise_scale (DRAGAN std_uniform)
  config.population.sweep.critic_lr = ()  # optimizer.critic.learning_rate
  config.population.sweep.critic_b1 = ()  # optimizer.critic.b1
  config.population.sweep.critic_b2 = ()  # optimizer.critic.b2
  config.population.sweep.critic_decay = ()  # optimizer.critic.decay (RMSProp)
  config.population.sweep.generator_lr = ()  # optimizer.generator.learning_rate
  config.population.sweep.generator_b1 = ()  # optimizer.generator.b1
  config.population.sweep.generator_b2 = ()  # optimizer.generator.b2
  config.population.sweep.generator_decay = ()  # optimizer.generator.decay (RMSProp)
  config.population.sweep.ema_decay = ()  # ema.decay
  # The evaluation number that names a population's best member (jaxgan/eval/
  # keys; lower is better except coverage, HQ share and confidence): the sliced
  # Wasserstein distance on toy sets, the classifier's Frechet distance on images.
  config.population.best_metric = ("sliced_wasserstein" if is_toy
                                   else f"fd_{dataset}_classifier")
  # How the step runs the members: vmap (one batched computation), map (one after
  # another in a loop inside the step), unroll (one after another, written out:
  # each member's single-run operations, compiled once per member) or auto (CPU:
  # unroll up to population.UNROLL_MAX members, else vmap; map ran conv models
  # ~40x slower there, benchmarks/results/population.md; other backends: vmap).
  config.population.method = "auto"
  return config


# The accelerator-sized folder model: the overrides the start line suggests.
FOLDER_ACCELERATOR = "--config.dataset.image_size=64 --config.model.width=64"


# Fewest steps between two evaluations the default interval gives: an evaluation
# costs as much as many training steps.
EVAL_MIN_INTERVAL = 1000


def eval_interval(num_steps: int) -> int:
  """log.eval_every's default: ten evaluations a run, at least EVAL_MIN_INTERVAL steps
  apart (a run shorter than that evaluates at its last step only)."""
  return max(-(-num_steps // 10), min(num_steps, EVAL_MIN_INTERVAL))


def follow(ref, divisor: int = 1):
  """ceil(ref / divisor) as a value that tracks `ref` until it is set explicitly."""
  return (ref + (divisor - 1)) // divisor


def augment_config(name: str = "none") -> ml_collections.ConfigDict:
  """The augment block (jaxgan/augment.py): what the critic sees of reals and fakes."""
  aug = ml_collections.ConfigDict()
  # none | diffaug (DiffAugment, Zhao et al. 2020) | ada (adaptive augmentation,
  # Karras et al. 2020); images only. Samples and evaluations are never augmented.
  aug.name = name
  # diffaug: its parts, in order (DiffAugment_pytorch.py's policy string; the
  # authors' choice for every dataset in their paper is all three).
  aug.policy = ",".join(augment_lib.DIFFAUG_OPS)
  aug.translation_ratio = 0.125  # diffaug: max shift / size (rand_translation ratio=0.125)
  aug.cutout_ratio = 0.5  # diffaug: cut square side / size (rand_cutout ratio=0.5)
  # ada: the transforms applied with probability p: StyleGAN2-ADA's 'bgc' pipeline
  # (train.py augpipe_specs), the paper's recommendation and the code's default.
  aug.ada_ops = ",".join(augment_lib.ADA_OPS)
  aug.ada_target = 0.6  # ada: target r_t (train.py --aug=ada: args.ada_target = 0.6)
  aug.ada_interval = 4  # ada: steps between updates of p (training_loop.py ada_interval=4)
  # ada: thousands of reals the critic sees for p to move by 1 (training_loop.py
  # ada_kimg=500); the adjustment per update is that fraction of the interval's reals.
  aug.ada_kimg = 500.0
  aug.p_init = 0.0  # ada: p at the start (training_loop.py augment_p=0)
  # ada: p stays at p_init, never steered (r_t is still measured and logged):
  # StyleGAN2-ADA's train.py --aug=fixed --p=P, its baseline for a chosen strength.
  aug.ada_fixed = False
  # ada: the overfitting heuristic r_t = E[sign(D(real) - t)] over the interval.
  # sign_real: t is the loss's decision boundary, StyleGAN2-ADA's rule (0 for the
  # logistic and hinge losses, (a + b) / 2 for least squares); sign_real_vs_fake_mean:
  # t is the batch's mean D(fake), since a Wasserstein critic's loss leaves its
  # scores' offset free and sign(D(real)) alone would follow that drift; auto: the
  # latter for loss.name='wasserstein', the former otherwise.
  aug.ada_heuristic = "auto"
  return aug


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
  return registry.info(config.dataset.name).kind == registry.TOY


# Generator updates per (recipe, dataset kind). The image datasets use the papers'
# budget; digits and the toy sets use CPU budgets measured on a 2-core machine
# (benchmarks/results/default_run.md).
_PAPER_STEPS = 100_000
_DIGITS_STEPS = 10_000
# Toy: 3,000 steps; WGAN-GP and DRAGAN, whose toy recipes decay the learning rate
# linearly to 0, 20,000: their share of high-quality samples rose with the length
# of the decay (benchmarks/results/toy_table.md, rows lin5k to lin20k), and 20k
# steps fit in an hour on one core of a 2-core CPU; gan_toy.py trains 100k.
_TOY_STEPS = {"wgan": 3000, "wgan_gp": 20_000, "dragan": 20_000, "lsgan": 3000,
              "nsgan": 3000, "sngan": 3000}


def set_budget(config, recipe: str) -> None:
  """Sets train.num_steps for `recipe` on config's dataset (log.* follow it)."""
  check_choice("recipe", recipe, _TOY_STEPS)
  if is_toy(config):
    steps = _TOY_STEPS[recipe]
  elif config.dataset.name == "digits":
    steps = _DIGITS_STEPS
  else:
    steps = _PAPER_STEPS
  config.train.num_steps = steps  # generator updates (see the budgets above)


def recipe_budget(config) -> int:
  """The train.num_steps set_budget gave config's recipe (on toy sets the recipes
  with a 20k budget are the penalised ones, known by their penalty's name)."""
  if is_toy(config):
    return _TOY_STEPS.get(config.penalty.name, _TOY_STEPS["wgan"])
  return _DIGITS_STEPS if config.dataset.name == "digits" else _PAPER_STEPS
