"""From a config to the objects a run needs: validation, optimizers, the StepSpec.

This is the only library module that reads the config tree as a whole; the
maths (losses.py, penalties.py) and the step (train.py) take plain arguments.
`validate` runs before anything is compiled, loaded or written, so a typo costs
one clear line and never touches an existing run.
"""

from __future__ import annotations

import jax
import optax

from jaxgan import data as data_lib
from jaxgan import losses as losses_lib
from jaxgan import models as models_lib
from jaxgan import penalties
from jaxgan import train as train_lib

OPTIMIZERS = ("adam", "rmsprop")
SCHEDULES = ("constant", "linear")


class ConfigError(ValueError):
  """A config value is unknown or out of range; the message names it."""


def _require(ok: bool, message: str) -> None:
  if not ok:
    raise ConfigError(message)


def _choice(key: str, value, allowed) -> None:
  _require(value in allowed, f"unknown {key} {value!r}; allowed: {', '.join(allowed)}")


def _check_optimizer(prefix: str, opt) -> None:
  _choice(f"{prefix}.name", opt.name, OPTIMIZERS)
  _require(opt.learning_rate > 0,
           f"{prefix}.learning_rate must be > 0, got {opt.learning_rate}")
  for key in ("b1", "b2", "decay"):
    value = opt[key]
    _require(0.0 <= value < 1.0, f"{prefix}.{key} must be in [0, 1), got {value}")
  _require(opt.eps >= 0, f"{prefix}.eps must be >= 0, got {opt.eps}")
  _choice(f"{prefix}.schedule", opt.schedule, SCHEDULES)


def validate(config) -> tuple[int, ...]:
  """Checks every value a run depends on; returns the data shape.

  Raises ConfigError with one line naming the bad key, its value and what is
  allowed. Cheap: builds no model, touches no data or device.
  """
  try:
    _choice("dataset.name", config.dataset.name, data_lib.DATASETS)
    if config.dataset.name not in data_lib.TOY_DATASETS:
      _require(config.dataset.image_size >= 1,
               f"dataset.image_size must be >= 1, got {config.dataset.image_size}")
    if config.dataset.name == "folder":
      _require(bool(config.dataset.path),
               "dataset.name='folder' needs dataset.path (a directory of images)")
    data_shape = tuple(data_lib.data_shape(config.dataset))
    models_lib.check_model_config(config.model, data_shape)

    losses_lib.get_loss(config.loss.name, **config.loss.options.to_dict())

    pen = config.penalty
    _choice("penalty.name", pen.name, penalties.PENALTY_NAMES)
    _choice("penalty.method", pen.method, penalties.PENALTY_METHODS)
    _choice("penalty.perturbation", pen.perturbation, penalties.DRAGAN_PERTURBATIONS)
    _require(pen.weight >= 0, f"penalty.weight must be >= 0, got {pen.weight}")
    _require(pen.target >= 0, f"penalty.target must be >= 0, got {pen.target}")
    _require(pen.noise_variance >= 0,
             f"penalty.noise_variance must be >= 0, got {pen.noise_variance}")
    _require(pen.noise_scale >= 0, f"penalty.noise_scale must be >= 0, got {pen.noise_scale}")

    tr = config.train
    _require(tr.num_steps >= 1, f"train.num_steps must be >= 1, got {tr.num_steps}")
    _require(tr.batch_size >= 1, f"train.batch_size must be >= 1, got {tr.batch_size}")
    _require(tr.n_critic >= 1, f"train.n_critic must be >= 1, got {tr.n_critic}")
    _require(tr.weight_clip is None or tr.weight_clip > 0,
             f"train.weight_clip must be > 0 (or None to disable), got {tr.weight_clip}")
    _require(tr.critic_unroll >= 0,
             f"train.critic_unroll must be >= 0 (0 = per-backend default), "
             f"got {tr.critic_unroll}")

    _check_optimizer("optimizer.critic", config.optimizer.critic)
    _check_optimizer("optimizer.generator", config.optimizer.generator)

    _require(0.0 <= config.ema.decay < 1.0,
             f"ema.decay must be in [0, 1), got {config.ema.decay}")
    _require(config.ema.start_step >= 0,
             f"ema.start_step must be >= 0, got {config.ema.start_step}")

    log = config.log
    for key in ("every", "sample_every", "checkpoint_every", "max_checkpoints",
                "num_samples"):
      _require(log[key] >= 1, f"log.{key} must be >= 1, got {log[key]}")
    _require(log.eval_every >= 0, f"log.eval_every must be >= 0, got {log.eval_every}")

    ev = config.eval
    # Two samples at least: the distances' unbiased estimators need pairs.
    _require(ev.num_samples >= 2, f"eval.num_samples must be >= 2, got {ev.num_samples}")
    _require(ev.hq_sigmas > 0, f"eval.hq_sigmas must be > 0, got {ev.hq_sigmas}")
    _require(0.0 <= ev.strict_fraction <= 1.0,
             f"eval.strict_fraction must be in [0, 1], got {ev.strict_fraction}")
    _require(ev.num_projections >= 1,
             f"eval.num_projections must be >= 1, got {ev.num_projections}")
    bandwidths = tuple(ev.mmd_bandwidths)
    _require(all(b > 0 for b in bandwidths),
             f"eval.mmd_bandwidths must be positive length scales (or () for no MMD), "
             f"got {bandwidths}")
    _require(ev.kid_subsets >= 1, f"eval.kid_subsets must be >= 1, got {ev.kid_subsets}")
    _require(ev.kid_subset_size >= 2,
             f"eval.kid_subset_size must be >= 2, got {ev.kid_subset_size}")
    return data_shape
  except ConfigError:
    raise
  except ValueError as e:  # registries and model checks raise plain ValueErrors
    raise ConfigError(str(e)) from None


def make_optimizer(opt_cfg, num_updates: int) -> optax.GradientTransformation:
  """optax optimizer for one network; `num_updates` sizes the linear schedule."""
  if opt_cfg.schedule == "linear":
    lr = optax.linear_schedule(opt_cfg.learning_rate, 0.0, num_updates)
  else:
    lr = opt_cfg.learning_rate
  if opt_cfg.name == "adam":
    return optax.adam(lr, b1=opt_cfg.b1, b2=opt_cfg.b2, eps=opt_cfg.eps)
  # eps outside the sqrt, as torch.optim.RMSprop (the WGAN authors' optimizer).
  return optax.rmsprop(lr, decay=opt_cfg.decay, eps=opt_cfg.eps, eps_in_sqrt=False)


def resolve_unroll(config, backend: str | None = None) -> int:
  """The critic loop's unroll factor: the config's, or the per-backend default.

  CPU default: fully unrolled. A rolled fori_loop made the DCGAN step ~18x
  slower on XLA:CPU, and unroll=2 was as slow as rolled (DESIGN.md). Other
  backends: rolled (1), which compiles faster; not yet measured here.
  """
  if config.train.critic_unroll > 0:
    return min(config.train.critic_unroll, config.train.n_critic)
  backend = backend or jax.default_backend()
  return config.train.n_critic if backend == "cpu" else 1


def num_updates(config) -> dict:
  """Optimizer updates over the whole run, per network: what a linear schedule spans."""
  steps = config.train.num_steps
  return {"generator": steps, "critic": steps * config.train.n_critic}


def make_step_spec(config, data_shape, *, axis_name: str | None = None) -> train_lib.StepSpec:
  """The static StepSpec of `config` for data of `data_shape`."""
  generator, critic = models_lib.make_models(
      config.model, data_shape, bn_axis_name=axis_name)
  pen = config.penalty
  updates = num_updates(config)
  return train_lib.StepSpec(
      generator=generator,
      critic=critic,
      generator_tx=make_optimizer(config.optimizer.generator, updates["generator"]),
      critic_tx=make_optimizer(config.optimizer.critic, updates["critic"]),
      loss=losses_lib.get_loss(config.loss.name, **config.loss.options.to_dict()),
      penalty=train_lib.PenaltySpec(
          name=pen.name, weight=float(pen.weight), target=float(pen.target),
          one_sided=bool(pen.one_sided), method=pen.method,
          perturbation=pen.perturbation, noise_variance=float(pen.noise_variance),
          noise_scale=float(pen.noise_scale)),
      z_dim=config.model.z_dim,
      n_critic=config.train.n_critic,
      unroll=resolve_unroll(config),
      weight_clip=config.train.weight_clip,
      ema_decay=float(config.ema.decay) if config.ema.enabled else None,
      ema_start=config.ema.start_step,
      axis_name=axis_name,
  )
