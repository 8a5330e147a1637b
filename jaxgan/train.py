"""GANState and the compiled train step: n_critic critic updates, then one generator update.

`train_step(state, real, spec=spec)` is a module-level pure function. `spec` (a
frozen `StepSpec`) holds everything that shapes the computation: the modules,
the optimizers' kinds and schedules, the loss family, the penalty, n_critic and
the loop's unroll factor. The scalar hyperparameters that do not (penalty
weight, learning rates, Adam's betas, the EMA decay, DRAGAN's noise) are an
`HParams` pytree: `spec.hparams` by default, or passed as `hparams=` with traced
values, which is how a population of runs with different values shares one
compiled step (jaxgan/population.py). `real` is [n_critic, B, ...]: one batch
per critic update, as in WGAN Alg. 1 and WGAN-GP Alg. 1, where every critic
iteration samples fresh real data.

The step is written for the global batch: nothing here knows about devices.
jaxgan/mesh.py compiles it over a device mesh; batch statistics (BatchNorm,
DRAGAN's std(x)) and gradient means are then over the global batch.

Randomness comes only from `state.key`: step s uses `fold_in(key, s)`, split
into named keys, and every per-example draw uses the example's global index
(see jaxgan/rng.py). A resumed run therefore repeats the uninterrupted draws.

Spectral normalisation (critics with `spectral_norm`): its power-iteration
vectors live in `state.critic_spectral`, advanced as `spec.spectral_norm_iteration`
says (`_critic_calls`):
  per_update  the reals' call advances u; the fakes and the penalty's closure are
              scored from the same incoming u, nothing written: one normalised
              critic per update, one iteration (Algorithm 1; jaxgan/models/layers.py).
  per_call    every training call advances u, as the SNGAN authors' updater.py
              (Chainer's SNConvolution2D writes u at each call in training) and
              mimicry: the reals' call, then the fakes' from the u the reals' call
              wrote (two iterations per critic update), and the generator update's
              call once more. Penalty points are scored by the fakes' critic (from
              the reals' u, nothing written): the penalty constrains the function
              that scored the fakes, and a closure differentiated inside jax.grad
              must not write state. Neither original has a penalty with spectral norm.

Pixel scaling (`spec.pixel_scaling`): the data arrive as v / 127.5 - 1 for 8-bit
pixels v; "half_open" rescales the reals to v / 128 - 1 before dequantisation
(the WGAN-GP and SNGAN authors' CIFAR-10 code), so the generator learns that
convention; jaxgan/sample.py maps its samples back (`from_training_pixels`).

Class-conditional runs (`spec.conditional` acgan or projection) take the real
labels [n_critic, B] beside the reals. As the WGAN-GP authors' AC-WGAN-GP
(gan_cifar_resnet.py): the critic's fakes are drawn for the real batch's labels
(`spec.critic_fake_labels="real"`; SNGAN's updater draws them uniformly,
"uniform"), the generator update's labels uniformly over the classes, per
example from the step's key; the penalty's closure scores each point with the
label of the example it came from (interpolates and DRAGAN points: the real
example's; R2 at fakes: the fake's). AC-GAN adds acgan_scale x the critic's
cross-entropy on the real labels to the critic loss, and acgan_scale_g x its
cross-entropy on the generated examples' labels to the generator loss.

Augmentation (`spec.augment`, jaxgan/augment.py): `augmented` is the one place
reals and fakes become what the critic scores, in the critic and the generator
updates; the penalties take their points from those. ADA's p and its running
heuristic live in `state.augment` ({} otherwise, so a run without augmentation
has the state and program it always had).

The training loop (`train_and_evaluate`) lives in jaxgan/loop.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxgan import augment as augment_lib
from jaxgan import losses as losses_lib
from jaxgan import penalties
from jaxgan import rng as rng_lib
from jaxgan.models.layers import SPECTRAL


# model.spectral_norm_iteration (see the module docstring and jaxgan/base_config.py).
SPECTRAL_NORM_ITERATIONS = ("per_update", "per_call")
# dataset.pixel_scaling: "closed" v / 127.5 - 1 (the data's own), "half_open" v / 128 - 1.
PIXEL_SCALINGS = ("closed", "half_open")


@flax.struct.dataclass
class GANState:
  """Everything a run needs to continue; one immutable pytree, checkpointed whole."""

  step: jax.Array                # generator updates done (int32)
  generator_params: Any
  generator_batch_stats: Any     # BatchNorm running statistics ({} if none)
  critic_params: Any
  generator_opt_state: Any
  critic_opt_state: Any
  ema_params: Any                # EMA of generator_params ({} when disabled)
  key: jax.Array                 # the run's base PRNG key; never split in place
  # Spectral norm's power-iteration vectors ({} for critics without it).
  critic_spectral: Any = flax.struct.field(default_factory=dict)
  # ADA's p and its heuristic's running sums (augment.init_ada; {} unless ADA).
  augment: Any = flax.struct.field(default_factory=dict)


@flax.struct.dataclass
class HParams:
  """Scalar hyperparameters that do not change the computation's shape.

  Python floats in a single run (constants to XLA); arrays with a leading member
  axis in a population. Learning rates are the schedule's peak values.
  """

  penalty_weight: Any            # lambda (WGAN-GP, DRAGAN) or gamma (R1, R2)
  noise_variance: Any            # DRAGAN "gaussian": c
  noise_scale: Any               # DRAGAN "std_uniform": scale of std(x)
  critic_lr: Any
  critic_b1: Any
  critic_b2: Any
  critic_decay: Any              # RMSProp's squared-gradient decay
  generator_lr: Any
  generator_b1: Any
  generator_b2: Any
  generator_decay: Any
  ema_decay: Any
  # AC-GAN (gan_cifar_resnet.py ACGAN_SCALE, ACGAN_SCALE_G): weights of the critic's
  # cross-entropy on real labels and of the generator's on its labels.
  acgan_scale: Any = 1.0
  acgan_scale_g: Any = 0.1


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
  """What kind of optimizer and schedule a network uses (HParams give the values)."""

  name: str = "adam"             # adam | rmsprop
  schedule: str = "constant"     # constant | linear (decay to 0 over num_updates)
  num_updates: int = 1
  eps: float = 1e-8


@dataclasses.dataclass(frozen=True)
class PenaltySpec:
  """Static description of the critic regulariser (penalties.py does the maths)."""

  name: str = "none"             # none | wgan_gp | dragan | r1 | r2
  target: float = 1.0            # k (wgan_gp, dragan)
  one_sided: bool = False
  method: str = "double_backward"
  perturbation: str = "std_uniform"  # DRAGAN only
  lazy_interval: int = 1         # apply every this many critic updates, weight x it


@dataclasses.dataclass(frozen=True)
class StepSpec:
  """Static parts of the train step (hashed by identity of its members)."""

  generator: nn.Module
  critic: nn.Module
  generator_opt: OptimizerSpec
  critic_opt: OptimizerSpec
  loss: losses_lib.Loss
  penalty: PenaltySpec
  hparams: HParams               # the run's values (populations pass their own)
  z_dim: int
  n_critic: int
  unroll: int                    # fori_loop unroll factor for the critic loop
  weight_clip: float | None      # WGAN: project critic params onto [-c, c]
  ema: bool = False              # keep an EMA of the generator weights
  ema_start: int = 0
  generator_batch_size: int = 0  # examples per generator update; 0 = the critic's
  dequantization: float = 0.0    # real += U[0, this) per pixel; 0 = off
  conditional: str = "none"      # none | acgan | projection (models/conditional.py)
  num_classes: int = 0           # classes of a conditional run (from the data)
  critic_fake_labels: str = "real"  # the critic's fakes: the reals' labels | uniform
  augment: augment_lib.AugmentSpec = augment_lib.AugmentSpec()  # what the critic sees
  spectral_norm_iteration: str = "per_update"  # SPECTRAL_NORM_ITERATIONS
  pixel_scaling: str = "closed"  # PIXEL_SCALINGS: the reals' convention in training
  sample_bn_stats: str = "running"  # sample.SAMPLE_BN_STATS: BatchNorm when sampling


# --- Optimizers ----------------------------------------------------------------


def _schedule(opt: OptimizerSpec, peak):
  if opt.schedule == "linear":
    linear = optax.linear_schedule(peak, 0.0, opt.num_updates)
    # Clamped: XLA computes count / num_updates as count * (1 / num_updates), which
    # leaves the last rate a rounding error below zero (-1.5e-12 for 1e-4).
    return lambda count: jnp.maximum(linear(count), 0.0)
  return peak


def learning_rate(opt: OptimizerSpec, peak, count):
  """The rate of update number `count` (what the optimizer applies)."""
  schedule = _schedule(opt, peak)
  return schedule(count) if callable(schedule) else jnp.asarray(schedule, jnp.float32)


def optimizer(opt: OptimizerSpec, lr, b1, b2, decay) -> optax.GradientTransformation:
  """The optax optimizer of one network; its state's structure does not depend on
  the values, so members of a population with different values share it."""
  schedule = _schedule(opt, lr)
  if opt.name == "adam":
    return optax.adam(schedule, b1=b1, b2=b2, eps=opt.eps)
  # eps outside the sqrt, as torch.optim.RMSprop (the WGAN authors' optimizer).
  return optax.rmsprop(schedule, decay=decay, eps=opt.eps, eps_in_sqrt=False)


def _critic_tx(spec: StepSpec, hparams: HParams):
  return optimizer(spec.critic_opt, hparams.critic_lr, hparams.critic_b1, hparams.critic_b2,
                   hparams.critic_decay)


def _generator_tx(spec: StepSpec, hparams: HParams):
  return optimizer(spec.generator_opt, hparams.generator_lr, hparams.generator_b1,
                   hparams.generator_b2, hparams.generator_decay)


# --- State ---------------------------------------------------------------------


def init_state(spec: StepSpec, key, sample_shape) -> GANState:
  """Initial GANState. `sample_shape` is one example's shape, e.g. (8, 8, 1)."""
  init_key, run_key = jax.random.split(key)
  g_key, c_key = jax.random.split(init_key)
  z = jnp.zeros((2, spec.z_dim), jnp.float32)
  labels = jnp.zeros((2,), jnp.int32) if spec.num_classes else None
  g_vars = spec.generator.init(g_key, z, **_generator_labels_kw(labels), train=False)
  c_vars = spec.critic.init(c_key, jnp.zeros((2,) + tuple(sample_shape), jnp.float32),
                            **_critic_labels_kw(spec, labels))
  g_params = g_vars["params"]
  c_params = c_vars["params"]
  if spec.weight_clip is not None:
    # WGAN clips from the first update on; start inside the box as well.
    c_params = penalties.clip_weights(c_params, spec.weight_clip)
  return GANState(
      step=jnp.zeros((), jnp.int32),
      generator_params=g_params,
      generator_batch_stats=g_vars.get("batch_stats", {}),
      critic_params=c_params,
      generator_opt_state=_generator_tx(spec, spec.hparams).init(g_params),
      critic_opt_state=_critic_tx(spec, spec.hparams).init(c_params),
      # A copy, not the same arrays: the compiled step donates the state, and one
      # buffer donated twice (as generator_params and ema_params) is an error.
      ema_params=jax.tree.map(jnp.copy, g_params) if spec.ema else {},
      key=run_key,
      critic_spectral=c_vars.get(SPECTRAL, {}),
      augment=(augment_lib.init_ada(spec.augment.p_init) if spec.augment.name == "ada"
               else {}),
  )


# --- Pieces of the step -------------------------------------------------------


def _generator_labels_kw(labels):
  """Keyword arguments that pass labels to a generator (none to an unconditional one)."""
  return {} if labels is None else {"labels": labels}


def _critic_labels_kw(spec: StepSpec, labels):
  """Only a projection critic is told the labels (the AC-GAN critic predicts them)."""
  return {"labels": labels} if spec.conditional == "projection" else {}


def generate(spec: StepSpec, params, batch_stats, z, *, train: bool, labels=None):
  """Generator forward pass -> (samples, new batch_stats).

  In training mode BatchNorm normalises with the batch's statistics and updates
  the running averages (returned); in eval mode it uses the running averages.
  `labels` [B] int32: the classes asked for (conditional generators only).
  """
  variables = {"params": params}
  kw = _generator_labels_kw(labels)
  if batch_stats:
    variables["batch_stats"] = batch_stats
    if train:
      samples, updates = spec.generator.apply(
          variables, z, **kw, train=True, mutable=["batch_stats"])
      return samples, updates["batch_stats"]
  return spec.generator.apply(variables, z, **kw, train=train), batch_stats


def _at_least_float32(x):
  """Scores of a bfloat16 critic in float32: losses and penalties reduce in float32."""
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def critic_outputs(spec: StepSpec, params, spectral, x, labels=None, *,
                   update: bool = False):
  """(scores [B] (at least float32), AC-GAN logits [B, K] or None, spectral state).

  `labels` [B]: each example's class; a projection critic scores (x, label), the
  others ignore them. The spectral state is new only if `update`.
  """
  kw = _critic_labels_kw(spec, labels)
  if not spectral:
    out, new_spectral = spec.critic.apply({"params": params}, x, **kw), spectral
  else:
    variables = {"params": params, SPECTRAL: spectral}
    if update:
      out, new = spec.critic.apply(variables, x, **kw, update_stats=True, mutable=[SPECTRAL])
      new_spectral = new[SPECTRAL]
    else:
      out, new_spectral = spec.critic.apply(variables, x, **kw, update_stats=False), spectral
  scores, logits = out if spec.conditional == "acgan" else (out, None)
  return _at_least_float32(scores), logits, new_spectral


def critic_scores(spec: StepSpec, params, spectral, x, labels=None, *, update: bool = False):
  """Critic scores [B] (at least float32) and the spectral state (new only if `update`)."""
  scores, _, new_spectral = critic_outputs(spec, params, spectral, x, labels, update=update)
  return scores, new_spectral


def _latents(spec: StepSpec, key, batch_size):
  """One latent per example of the global batch, drawn by its index (rng.py)."""
  return rng_lib.normal(rng_lib.example_keys(key, 0, batch_size), (spec.z_dim,))


def _labels_uniform(spec: StepSpec, key, batch_size):
  """One class per example of the global batch, uniform over the classes, by index."""
  return rng_lib.randint(rng_lib.example_keys(key, 0, batch_size), spec.num_classes)


# fold_in index of the generator update's label draws: its latents use the step's
# generator key folded with each example index, which never reaches this one.
_LABEL_STREAM = 0xFFFFFFFF


def _acgan_terms(logits, labels):
  """(mean cross-entropy, accuracy) of AC-GAN logits [B, K] against labels [B]."""
  ce = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
  accuracy = jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))
  return ce, accuracy


def _penalty(spec: StepSpec, hparams: HParams, critic_at, key, real, fake, real_labels=None,
             fake_labels=None):
  """(penalty, per-example gradient norms) of spec.penalty at its points.

  `critic_at(labels)` is the critic closure x -> scores with every point scored
  under its own example's label (None: unconditional).
  """
  pen = spec.penalty
  if pen.name in ("r1", "r2"):
    if pen.name == "r1":
      return penalties.squared_gradient_penalty(critic_at(real_labels), real,
                                                method=pen.method)
    return penalties.squared_gradient_penalty(critic_at(fake_labels), fake,
                                              method=pen.method)
  # Interpolates and DRAGAN points keep their real example's label, as the
  # WGAN-GP authors' conditional code scores its interpolates.
  critic_fn = critic_at(real_labels)
  keys = rng_lib.example_keys(key, 0, real.shape[0])
  if pen.name == "wgan_gp":
    points = penalties.interpolates(keys, real, fake)
  else:
    points = penalties.dragan_points(
        keys, real, perturbation=pen.perturbation, noise_variance=hparams.noise_variance,
        noise_scale=hparams.noise_scale)
  return penalties.gradient_penalty(critic_fn, points, target=pen.target,
                                    one_sided=pen.one_sided, method=pen.method)


def _critic_calls(spec: StepSpec, params, spectral, real, fake, real_labels, fake_labels):
  """A critic update's calls: ((d_real, logits), (d_fake, logits), critic_at, new spectral).

  `critic_at(labels)` is the penalty's closure x -> scores, scored from the same
  u as the fakes and writing nothing; the spectral state advances once
  (per_update) or once per call, reals then fakes (per_call; module docstring).
  """
  per_call = spec.spectral_norm_iteration == "per_call"
  d_real, logits_real, after_real = critic_outputs(spec, params, spectral, real,
                                                   real_labels, update=True)
  fakes_from = after_real if per_call else spectral
  d_fake, logits_fake, after_fake = critic_outputs(spec, params, fakes_from, fake,
                                                   fake_labels, update=per_call)

  def critic_at(labels):
    return lambda x: critic_outputs(spec, params, fakes_from, x, labels)[0]

  new_spectral = after_fake if per_call else after_real
  return (d_real, logits_real), (d_fake, logits_fake), critic_at, new_spectral


def critic_loss_fn(spec: StepSpec, critic_params, spectral, real, fake, penalty_key,
                   hparams: HParams, apply_penalty=True, real_labels=None, fake_labels=None):
  """Critic objective (loss + weight * penalty [+ AC-GAN term]), its metrics and the
  new spectral state.

  `apply_penalty` (traced) switches a lazy regulariser on for this update, with
  its weight multiplied by the interval (StyleGAN2's lazy regularisation).
  `real_labels`, `fake_labels` [B]: the classes of a conditional run's examples.
  """
  (d_real, logits_real), (d_fake, logits_fake), critic_at, new_spectral = _critic_calls(
      spec, critic_params, spectral, real, fake, real_labels, fake_labels)
  loss = spec.loss.critic_loss(d_real, d_fake)
  zero = jnp.zeros((), jnp.float32)
  if spec.penalty.name == "none":
    penalty, grad_norm = zero, zero
  else:
    def with_penalty():
      p, norms = _penalty(spec, hparams, critic_at, penalty_key, real, fake, real_labels,
                          fake_labels)
      return p, jnp.mean(jax.lax.stop_gradient(norms))
    if spec.penalty.lazy_interval > 1:
      penalty, grad_norm = jax.lax.cond(apply_penalty, with_penalty, lambda: (zero, zero))
    else:
      penalty, grad_norm = with_penalty()
  weight = hparams.penalty_weight * spec.penalty.lazy_interval
  total = loss + weight * penalty
  metrics = {
      "critic/loss": total,
      "critic/loss_unregularised": loss,
      "critic/penalty": penalty,
      "critic/grad_norm_mean": grad_norm,
      "critic/wasserstein_estimate": jnp.mean(d_real) - jnp.mean(d_fake),
      "critic/score_real": jnp.mean(d_real),
      "critic/score_fake": jnp.mean(d_fake),
  }
  if spec.augment.name == "ada":  # ADA's overfitting heuristic on the scored reals
    metrics["augment/sign_real"] = augment_lib.ada_signs(d_real, d_fake,
                                                         spec.augment.ada_threshold)
  if spec.conditional == "acgan":
    # ACGAN_SCALE x cross-entropy on the real labels; the fakes' accuracy is reported
    # only (gan_cifar_resnet.py's disc_acgan_fake_accs).
    ce_real, accuracy_real = _acgan_terms(logits_real, real_labels)
    _, accuracy_fake = _acgan_terms(logits_fake, fake_labels)
    total = total + hparams.acgan_scale * ce_real
    metrics.update({"critic/loss": total, "critic/acgan_loss": ce_real,
                    "critic/acgan_accuracy_real": accuracy_real,
                    "critic/acgan_accuracy_fake": accuracy_fake})
  return total, (jax.tree.map(jax.lax.stop_gradient, metrics), new_spectral)


def to_training_pixels(x, scaling: str):
  """Data-convention values x = v / 127.5 - 1 -> the critic's convention `scaling`.

  "half_open": v / 128 - 1 = (x + 1) * 255/256 - 1 (exact for x = 1: 1 - 2/256).
  """
  return x if scaling == "closed" else (x + 1.0) * (255.0 / 256.0) - 1.0


def from_training_pixels(y, scaling: str):
  """The inverse of to_training_pixels: generator outputs -> the data's v / 127.5 - 1."""
  return y if scaling == "closed" else (y + 1.0) * (256.0 / 255.0) - 1.0


def _training_reals(spec: StepSpec, key, real):
  """real in spec.pixel_scaling's convention, + U[0, spec.dequantization) per value by
  example index (authors' CIFAR code: scale, then add the noise)."""
  real = to_training_pixels(real, spec.pixel_scaling).astype(real.dtype)
  if not spec.dequantization:
    return real
  noise = rng_lib.uniform(rng_lib.example_keys(key, 0, real.shape[0]), real.shape[1:])
  return real + spec.dequantization * noise.astype(real.dtype)


def _fake_labels(spec: StepSpec, key, real_labels):
  """The classes of a critic update's fakes (None for an unconditional run)."""
  if not spec.num_classes:
    return None
  if spec.critic_fake_labels == "real":
    return real_labels
  return _labels_uniform(spec, key, real_labels.shape[0])


# fold_in indices of a critic update's augmentation draws (its dequantisation noise
# and fake labels use 3 and 4), and of the generator update's (its latents use the
# example indices, its labels _LABEL_STREAM).
_AUGMENT_REAL, _AUGMENT_FAKE = 5, 6
_AUGMENT_STREAM = 0xFFFFFFFE


def augmented(spec: StepSpec, state: GANState, key, x):
  """x [B, ...] as the critic scores it: spec.augment per example from `key` (x itself
  when off).

  Reals and fakes are augmented independently with the same policy, in the critic's
  and the generator's updates (DiffAugment's and StyleGAN2-ADA's loss code). Every
  penalty then takes its points from what the critic scores, as the DiffAugment
  authors' compare_gan code (penalty_lib on the augmented images): WGAN-GP
  interpolates augmented reals and augmented fakes, DRAGAN perturbs augmented
  reals, R1 (R2) is the gradient at augmented reals (fakes). The examples keep
  their order, so a conditional critic scores each with its own label.
  """
  if spec.augment.name == "none":
    return x
  keys = rng_lib.example_keys(key, 0, x.shape[0])
  return augment_lib.augment(spec.augment, keys, x, state.augment.get("p"))


def critic_update(spec: StepSpec, state: GANState, real, key, hparams: HParams | None = None,
                  index=0, labels=None):
  """One critic update on real[B, ...] (labels[B] if conditional) -> (state, metrics).

  `index` is the update's number within the step (lazy regularisation counts
  updates over the whole run: step * n_critic + index).
  """
  hparams = spec.hparams if hparams is None else hparams
  z_key, penalty_key = jax.random.split(key)
  real = _training_reals(spec, jax.random.fold_in(key, 3), real)
  z = _latents(spec, z_key, real.shape[0])
  fake_labels = _fake_labels(spec, jax.random.fold_in(key, 4), labels)
  # The generator runs in training mode, as in the reference implementations,
  # so its BatchNorm running averages also see these batches.
  fake, batch_stats = generate(spec, state.generator_params, state.generator_batch_stats,
                               z, train=True, labels=fake_labels)
  fake = jax.lax.stop_gradient(fake)
  real = augmented(spec, state, jax.random.fold_in(key, _AUGMENT_REAL), real)
  fake = augmented(spec, state, jax.random.fold_in(key, _AUGMENT_FAKE), fake)
  update_number = state.step * spec.n_critic + index
  apply_penalty = update_number % spec.penalty.lazy_interval == 0
  grads, (metrics, spectral) = jax.grad(critic_loss_fn, argnums=1, has_aux=True)(
      spec, state.critic_params, state.critic_spectral, real, fake, penalty_key, hparams,
      apply_penalty, labels, fake_labels)
  metrics["critic/param_grad_norm"] = optax.tree.norm(grads)
  metrics["critic/penalty_applied"] = apply_penalty.astype(jnp.float32)
  updates, opt_state = _critic_tx(spec, hparams).update(grads, state.critic_opt_state,
                                                   state.critic_params)
  params = optax.apply_updates(state.critic_params, updates)
  if spec.weight_clip is not None:
    params = penalties.clip_weights(params, spec.weight_clip)
  state = state.replace(critic_params=params, critic_opt_state=opt_state,
                        generator_batch_stats=batch_stats, critic_spectral=spectral)
  return state, metrics


def generator_update(spec: StepSpec, state: GANState, batch_size: int, key,
                     hparams: HParams | None = None):
  """One generator update -> (state, metrics).

  A conditional generator draws one class per example, uniformly (the authors'
  fake_labels), from `fold_in(key, _LABEL_STREAM)`.
  """
  hparams = spec.hparams if hparams is None else hparams
  z = _latents(spec, key, batch_size)
  labels = (_labels_uniform(spec, jax.random.fold_in(key, _LABEL_STREAM), batch_size)
            if spec.num_classes else None)

  def loss_fn(params):
    fake, batch_stats = generate(spec, params, state.generator_batch_stats, z, train=True,
                                 labels=labels)
    fake = augmented(spec, state, jax.random.fold_in(key, _AUGMENT_STREAM), fake)
    # per_call: this training call advances u too (the originals' generator update).
    d_fake, logits, spectral = critic_outputs(
        spec, state.critic_params, state.critic_spectral, fake, labels,
        update=spec.spectral_norm_iteration == "per_call")
    adversarial = spec.loss.generator_loss(d_fake)
    loss = adversarial
    metrics = {"generator/score_fake": jnp.mean(d_fake)}
    if spec.conditional == "acgan":
      ce, _ = _acgan_terms(logits, labels)
      loss = adversarial + hparams.acgan_scale_g * ce  # ACGAN_SCALE_G x CE on its labels
      metrics.update({"generator/loss_adversarial": adversarial, "generator/acgan_loss": ce})
    metrics["generator/loss"] = loss
    return loss, (batch_stats, metrics, spectral)

  grads, (batch_stats, metrics, spectral) = jax.grad(loss_fn, has_aux=True)(
      state.generator_params)
  metrics = jax.tree.map(jax.lax.stop_gradient, metrics)
  metrics["generator/param_grad_norm"] = optax.tree.norm(grads)
  updates, opt_state = _generator_tx(spec, hparams).update(grads, state.generator_opt_state,
                                                      state.generator_params)
  params = optax.apply_updates(state.generator_params, updates)
  state = state.replace(generator_params=params, generator_opt_state=opt_state,
                        generator_batch_stats=batch_stats,
                        critic_spectral=jax.lax.stop_gradient(spectral))
  return state, metrics


def _update_ema(spec: StepSpec, ema, params, step, decay):
  if not spec.ema:
    return ema
  # Before ema_start the average just tracks the weights (no early-iterate bias).
  decay = jnp.where(step >= spec.ema_start, decay, 0.0)
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, params)


# Metrics averaged over the critic updates where the (lazy) penalty was applied.
_PENALTY_METRICS = ("critic/penalty", "critic/grad_norm_mean")


# --- The step -------------------------------------------------------------------


def train_step(state: GANState, real, labels=None, *, spec: StepSpec,
               hparams: HParams | None = None):
  """n_critic critic updates (in lax.fori_loop) then one generator update.

  Args:
    state: the GANState.
    real: [n_critic, B, ...] real examples, one batch per critic update.
    labels: [n_critic, B] int32 classes of the real examples; a conditional run's
      (spec.num_classes > 0) only.
    spec: static StepSpec (bind with functools.partial before jax.jit; keyword-only).
    hparams: the scalar hyperparameters; spec.hparams when None.

  Returns:
    (new state, metrics): metrics is a flat dict of scalars; critic metrics are
    averaged over the n_critic updates (a lazy penalty's over the updates that
    applied it, 0 in a step where none did).
  """
  if real.shape[0] != spec.n_critic:
    raise ValueError(f"real has {real.shape[0]} critic batches, spec.n_critic={spec.n_critic}")
  if bool(spec.num_classes) != (labels is not None):
    raise ValueError(
        f"labels [n_critic, B] go with a conditional spec (num_classes > 0); got "
        f"{'no labels' if labels is None else 'labels'} for num_classes={spec.num_classes}")
  if labels is not None and labels.shape != real.shape[:2]:
    raise ValueError(f"labels have shape {labels.shape}, the reals {real.shape[:2]} "
                     f"(expected [n_critic, B])")
  hparams = spec.hparams if hparams is None else hparams
  keys = rng_lib.step_keys(state.key, state.step, ("critic", "generator"))
  labels_at = (lambda i: None) if labels is None else (lambda i: labels[i])

  def body(i, carry):
    s, metric_sums = carry
    s, metrics = critic_update(spec, s, real[i], jax.random.fold_in(keys["critic"], i),
                               hparams, i, labels_at(i))
    return s, jax.tree.map(jnp.add, metric_sums, metrics)

  metric_shapes = jax.eval_shape(
      lambda: critic_update(spec, state, real[0], keys["critic"], hparams, 0, labels_at(0))[1])
  zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), metric_shapes)
  start_step = state.step
  if spec.n_critic == 1:
    # One update needs no loop. A one-trip fori_loop still compiles to an XLA while
    # loop, and XLA:CPU runs a convolutional step many times slower inside one
    # (benchmarks/results/step_throughput.md, row 2.rolled).
    state, metric_sums = body(0, (state, zeros))
  else:
    # unroll >= n_critic means "fully"; unroll=True lets XLA see straight-line code.
    unroll = True if spec.unroll >= spec.n_critic else spec.unroll
    state, metric_sums = jax.lax.fori_loop(0, spec.n_critic, body, (state, zeros),
                                           unroll=unroll)
  applied = metric_sums.pop("critic/penalty_applied")
  metrics = {k: v / spec.n_critic for k, v in metric_sums.items()}
  if spec.penalty.lazy_interval > 1:
    for k in _PENALTY_METRICS:
      metrics[k] = metric_sums[k] / jnp.maximum(applied, 1.0)
    metrics["critic/penalty_updates"] = applied

  batch = spec.generator_batch_size or real.shape[1]
  state, g_metrics = generator_update(spec, state, batch, keys["generator"], hparams)
  metrics.update(g_metrics)
  # The rates of this step's first critic update and of its generator update.
  metrics["critic/learning_rate"] = learning_rate(spec.critic_opt, hparams.critic_lr,
                                                  start_step * spec.n_critic)
  metrics["generator/learning_rate"] = learning_rate(spec.generator_opt, hparams.generator_lr,
                                                     start_step)
  new_step = state.step + 1
  state = state.replace(
      step=new_step,
      ema_params=_update_ema(spec, state.ema_params, state.generator_params, new_step,
                             hparams.ema_decay),
  )
  if spec.augment.name == "ada":
    # The critic updates' mean sign is over n_critic x B reals, so the global batch's
    # mean under jit: every device (and a population member) sees the same p.
    ada = augment_lib.ada_update(spec.augment, state.augment,
                                 metrics.pop("augment/sign_real"), new_step,
                                 spec.n_critic * real.shape[1])
    state = state.replace(augment=ada)
    metrics["augment/p"] = ada["p"]
    metrics["augment/r_t"] = ada["r_t"]
  return state, metrics
