"""From a validated config to the objects a run needs: optimizers and the StepSpec.

The maths (losses.py, penalties.py) and the step (train.py) take plain arguments;
this module reads the config tree and builds them. It trusts a config that
jaxgan/validation.py has checked.
"""

from __future__ import annotations

import jax

from jaxgan import augment as augment_lib
from jaxgan import losses as losses_lib
from jaxgan import models as models_lib
from jaxgan import train as train_lib


def optimizer_spec(opt_cfg, num_updates: int) -> train_lib.OptimizerSpec:
  """The optimizer's kind and schedule; `num_updates` sizes a linear decay."""
  return train_lib.OptimizerSpec(name=opt_cfg.name, schedule=opt_cfg.schedule,
                                 num_updates=int(num_updates), eps=float(opt_cfg.eps))


def hparams(config) -> train_lib.HParams:
  """The run's scalar hyperparameters as Python floats (constants to XLA)."""
  pen, c, g = config.penalty, config.optimizer.critic, config.optimizer.generator
  return train_lib.HParams(
      penalty_weight=float(pen.weight), noise_variance=float(pen.noise_variance),
      noise_scale=float(pen.noise_scale),
      critic_lr=float(c.learning_rate), critic_b1=float(c.b1), critic_b2=float(c.b2),
      critic_decay=float(c.decay),
      generator_lr=float(g.learning_rate), generator_b1=float(g.b1),
      generator_b2=float(g.b2), generator_decay=float(g.decay),
      ema_decay=float(config.ema.decay), acgan_scale=float(config.loss.acgan_scale),
      acgan_scale_g=float(config.loss.acgan_scale_g))


def resolve_unroll(config, backend: str | None = None) -> int:
  """The critic loop's unroll factor: the config's, or the per-backend default.

  CPU: fully unrolled (a rolled loop ran the DCGAN step many times slower on
  XLA:CPU, benchmarks/results/step_throughput.md row 2.rolled). Other backends:
  rolled (1), which compiles faster; not yet measured here."""
  if config.train.critic_unroll > 0:
    return min(config.train.critic_unroll, config.train.n_critic)
  backend = backend or jax.default_backend()
  return config.train.n_critic if backend == "cpu" else 1


def num_updates(config) -> dict:
  """Updates per network over which a linear schedule decays: optimizer.decay_steps."""
  steps = config.optimizer.decay_steps
  return {"generator": steps, "critic": steps * config.train.n_critic}


def ada_threshold(config) -> float | None:
  """r_t's threshold t in sign(D(real) - t) (base_config's augment.ada_heuristic);
  None: the batch's mean D(fake)."""
  heuristic = config.augment.ada_heuristic
  if heuristic == "auto":
    heuristic = ("sign_real_vs_fake_mean" if config.loss.name == "wasserstein"
                 else "sign_real")
  if heuristic == "sign_real_vs_fake_mean":
    return None
  if config.loss.name == "least_squares":  # the boundary between the targets a and b
    targets = {**losses_lib.least_squares_critic_loss.__kwdefaults__,
               **config.loss.options.to_dict()}
    return (float(targets["a"]) + float(targets["b"])) / 2
  return 0.0  # logits (non_saturating, minimax) and hinge: the sign of the score


def augment_spec(config) -> augment_lib.AugmentSpec:
  """The static AugmentSpec of a validated config."""
  aug = config.augment
  return augment_lib.AugmentSpec(
      name=aug.name, policy=tuple(aug.policy.split(",")),
      translation_ratio=float(aug.translation_ratio), cutout_ratio=float(aug.cutout_ratio),
      ada_ops=tuple(aug.ada_ops.split(",")), ada_target=float(aug.ada_target),
      ada_interval=int(aug.ada_interval), ada_kimg=float(aug.ada_kimg),
      p_init=float(aug.p_init), ada_fixed=bool(aug.ada_fixed),
      ada_threshold=ada_threshold(config))


def make_step_spec(config, data_shape, classes: int = 0) -> train_lib.StepSpec:
  """The static StepSpec of `config` for data of `data_shape` and a conditional run's
  number of `classes` (runs.setup reads them; ignored for an unconditional run)."""
  if config.model.conditional == "none":
    classes = 0
  generator, critic = models_lib.make_models(config.model, data_shape,
                                             conditional=config.model.conditional,
                                             num_classes=classes)
  pen = config.penalty
  updates = num_updates(config)
  return train_lib.StepSpec(
      generator=generator,
      critic=critic,
      generator_opt=optimizer_spec(config.optimizer.generator, updates["generator"]),
      critic_opt=optimizer_spec(config.optimizer.critic, updates["critic"]),
      loss=losses_lib.get_loss(config.loss.name, **config.loss.options.to_dict()),
      penalty=train_lib.PenaltySpec(
          name=pen.name, target=float(pen.target), one_sided=bool(pen.one_sided),
          method=pen.method, perturbation=pen.perturbation,
          lazy_interval=int(pen.lazy_interval)),
      hparams=hparams(config),
      z_dim=config.model.z_dim,
      n_critic=config.train.n_critic,
      unroll=resolve_unroll(config),
      weight_clip=config.train.weight_clip,
      ema=bool(config.ema.enabled),
      ema_start=config.ema.start_step,
      generator_batch_size=config.train.generator_batch_size,
      dequantization=float(config.train.dequantization),
      conditional=config.model.conditional,
      num_classes=classes,
      critic_fake_labels=config.train.critic_fake_labels,
      augment=augment_spec(config),
      spectral_norm_iteration=config.model.spectral_norm_iteration,
      pixel_scaling=config.dataset.pixel_scaling,
      sample_bn_stats=config.model.sample_bn_stats,
  )
