"""From a validated config to the objects a run needs: optimizers and the StepSpec.

The maths (losses.py, penalties.py) and the step (train.py) take plain arguments;
this module reads the config tree and builds them. It trusts a config that
jaxgan/validation.py has checked.
"""

from __future__ import annotations

import jax
import optax

from jaxgan import losses as losses_lib
from jaxgan import models as models_lib
from jaxgan import train as train_lib


def learning_rate(opt_cfg, num_updates: int) -> optax.Schedule:
  """The rate as a function of the update count: constant, or linear to 0 over num_updates."""
  if opt_cfg.schedule == "linear":
    return optax.linear_schedule(opt_cfg.learning_rate, 0.0, num_updates)
  return optax.constant_schedule(opt_cfg.learning_rate)


def make_optimizer(opt_cfg, schedule: optax.Schedule) -> optax.GradientTransformation:
  """optax optimizer for one network with the learning-rate `schedule`."""
  if opt_cfg.schedule == "constant":
    # A float rather than a schedule: the same optimizer state as before schedules
    # existed, so older checkpoints restore.
    schedule = opt_cfg.learning_rate
  if opt_cfg.name == "adam":
    return optax.adam(schedule, b1=opt_cfg.b1, b2=opt_cfg.b2, eps=opt_cfg.eps)
  # eps outside the sqrt, as torch.optim.RMSprop (the WGAN authors' optimizer).
  return optax.rmsprop(schedule, decay=opt_cfg.decay, eps=opt_cfg.eps, eps_in_sqrt=False)


def resolve_unroll(config, backend: str | None = None) -> int:
  """The critic loop's unroll factor: the config's, or the per-backend default.

  CPU default: fully unrolled (a rolled loop ran the DCGAN step over 30x slower
  on XLA:CPU, benchmarks/results/step_throughput.md row 2.rolled). Other
  backends: rolled (1), which compiles faster; not yet measured here.
  """
  if config.train.critic_unroll > 0:
    return min(config.train.critic_unroll, config.train.n_critic)
  backend = backend or jax.default_backend()
  return config.train.n_critic if backend == "cpu" else 1


def num_updates(config) -> dict:
  """Updates per network over which a linear schedule decays: optimizer.decay_steps."""
  steps = config.optimizer.decay_steps
  return {"generator": steps, "critic": steps * config.train.n_critic}


def make_step_spec(config, data_shape) -> train_lib.StepSpec:
  """The static StepSpec of `config` for data of `data_shape`."""
  generator, critic = models_lib.make_models(config.model, data_shape)
  pen = config.penalty
  updates = num_updates(config)
  g_lr = learning_rate(config.optimizer.generator, updates["generator"])
  c_lr = learning_rate(config.optimizer.critic, updates["critic"])
  return train_lib.StepSpec(
      generator=generator,
      critic=critic,
      generator_tx=make_optimizer(config.optimizer.generator, g_lr),
      critic_tx=make_optimizer(config.optimizer.critic, c_lr),
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
      generator_lr=g_lr,
      critic_lr=c_lr,
  )
