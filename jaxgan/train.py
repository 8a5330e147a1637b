"""GANState and the compiled train step: n_critic critic updates, then one generator update.

`train_step(state, real, spec=spec)` is a module-level pure function; `spec`
(a frozen `StepSpec`) holds everything static: the modules, the optimizers, the
loss family, the penalty, n_critic and the loop's unroll factor. `real` is
[n_critic, B, ...]: one batch per critic update, as in WGAN Alg. 1 and WGAN-GP
Alg. 1, where every critic iteration samples fresh real data.

The step is written for the global batch: nothing here knows about devices.
jaxgan/mesh.py compiles it over a device mesh; batch statistics (BatchNorm,
DRAGAN's std(x)) and gradient means are then over the global batch.

Randomness comes only from `state.key`: step s uses `fold_in(key, s)`, split
into named keys, and every per-example draw uses the example's global index
(see jaxgan/rng.py). A resumed run therefore repeats the uninterrupted draws.

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

from jaxgan import losses as losses_lib
from jaxgan import penalties
from jaxgan import rng as rng_lib


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


@dataclasses.dataclass(frozen=True)
class PenaltySpec:
  """Static description of the critic regulariser (penalties.py does the maths)."""

  name: str = "none"             # none | wgan_gp | dragan
  weight: float = 0.0            # lambda
  target: float = 1.0            # k
  one_sided: bool = False
  method: str = "double_backward"
  perturbation: str = "std_uniform"  # DRAGAN only
  noise_variance: float = 10.0       # DRAGAN "gaussian": c
  noise_scale: float = 0.5           # DRAGAN "std_uniform": scale of std(x)


@dataclasses.dataclass(frozen=True)
class StepSpec:
  """Static parts of the train step (hashed by identity of its members)."""

  generator: nn.Module
  critic: nn.Module
  generator_tx: optax.GradientTransformation
  critic_tx: optax.GradientTransformation
  loss: losses_lib.Loss
  penalty: PenaltySpec
  z_dim: int
  n_critic: int
  unroll: int                    # fori_loop unroll factor for the critic loop
  weight_clip: float | None      # WGAN: project critic params onto [-c, c]
  ema_decay: float | None        # generator EMA; None disables it
  ema_start: int = 0
  # Learning-rate schedules (update count -> rate), reported as metrics; the
  # optimizers above hold the same schedules.
  generator_lr: optax.Schedule = optax.constant_schedule(0.0)
  critic_lr: optax.Schedule = optax.constant_schedule(0.0)


# --- State ---------------------------------------------------------------------


def init_state(spec: StepSpec, key, sample_shape) -> GANState:
  """Initial GANState. `sample_shape` is one example's shape, e.g. (8, 8, 1)."""
  init_key, run_key = jax.random.split(key)
  g_key, c_key = jax.random.split(init_key)
  z = jnp.zeros((2, spec.z_dim), jnp.float32)
  g_vars = spec.generator.init(g_key, z, train=False)
  c_vars = spec.critic.init(c_key, jnp.zeros((2,) + tuple(sample_shape), jnp.float32))
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
      generator_opt_state=spec.generator_tx.init(g_params),
      critic_opt_state=spec.critic_tx.init(c_params),
      # A copy, not the same arrays: the compiled step donates the state, and one
      # buffer donated twice (as generator_params and ema_params) is an error.
      ema_params=jax.tree.map(jnp.copy, g_params) if spec.ema_decay is not None else {},
      key=run_key,
  )


# --- Pieces of the step -------------------------------------------------------


def generate(spec: StepSpec, params, batch_stats, z, *, train: bool):
  """Generator forward pass -> (samples, new batch_stats).

  In training mode BatchNorm normalises with the batch's statistics and updates
  the running averages (returned); in eval mode it uses the running averages.
  """
  variables = {"params": params}
  if batch_stats:
    variables["batch_stats"] = batch_stats
    if train:
      samples, updates = spec.generator.apply(
          variables, z, train=True, mutable=["batch_stats"])
      return samples, updates["batch_stats"]
  return spec.generator.apply(variables, z, train=train), batch_stats


def _latents(spec: StepSpec, key, batch_size):
  """One latent per example of the global batch, drawn by its index (rng.py)."""
  return rng_lib.normal(rng_lib.example_keys(key, 0, batch_size), (spec.z_dim,))


def _penalty_points(spec: StepSpec, key, real, fake):
  keys = rng_lib.example_keys(key, 0, real.shape[0])
  if spec.penalty.name == "wgan_gp":
    return penalties.interpolates(keys, real, fake)
  return penalties.dragan_points(
      keys, real, perturbation=spec.penalty.perturbation,
      noise_variance=spec.penalty.noise_variance, noise_scale=spec.penalty.noise_scale)


def critic_loss_fn(spec: StepSpec, critic_params, real, fake, penalty_key):
  """Critic objective (loss + lambda * penalty) and its metrics."""
  def critic_fn(x):
    return spec.critic.apply({"params": critic_params}, x)

  d_real = critic_fn(real)
  d_fake = critic_fn(fake)
  loss = spec.loss.critic_loss(d_real, d_fake)
  if spec.penalty.name == "none":
    penalty = jnp.zeros((), loss.dtype)
    grad_norm = jnp.zeros((), loss.dtype)
  else:
    points = _penalty_points(spec, penalty_key, real, fake)
    penalty, norms = penalties.gradient_penalty(
        critic_fn, points, target=spec.penalty.target,
        one_sided=spec.penalty.one_sided, method=spec.penalty.method)
    grad_norm = jnp.mean(jax.lax.stop_gradient(norms))
  total = loss + spec.penalty.weight * penalty
  metrics = {
      "critic/loss": total,
      "critic/loss_unregularised": loss,
      "critic/penalty": penalty,
      "critic/grad_norm_mean": grad_norm,
      "critic/wasserstein_estimate": jnp.mean(d_real) - jnp.mean(d_fake),
      "critic/score_real": jnp.mean(d_real),
      "critic/score_fake": jnp.mean(d_fake),
  }
  return total, jax.tree.map(jax.lax.stop_gradient, metrics)


def critic_update(spec: StepSpec, state: GANState, real, key):
  """One critic update on real[B, ...] -> (critic_params, critic_opt_state, batch_stats, metrics)."""
  z_key, penalty_key = jax.random.split(key)
  z = _latents(spec, z_key, real.shape[0])
  # The generator runs in training mode, as in the reference implementations,
  # so its BatchNorm running averages also see these batches.
  fake, batch_stats = generate(spec, state.generator_params, state.generator_batch_stats,
                               z, train=True)
  fake = jax.lax.stop_gradient(fake)
  grads, metrics = jax.grad(critic_loss_fn, argnums=1, has_aux=True)(
      spec, state.critic_params, real, fake, penalty_key)
  metrics["critic/param_grad_norm"] = optax.tree.norm(grads)
  updates, opt_state = spec.critic_tx.update(grads, state.critic_opt_state,
                                             state.critic_params)
  params = optax.apply_updates(state.critic_params, updates)
  if spec.weight_clip is not None:
    params = penalties.clip_weights(params, spec.weight_clip)
  return params, opt_state, batch_stats, metrics


def generator_update(spec: StepSpec, state: GANState, batch_size: int, key):
  """One generator update -> (params, opt_state, batch_stats, metrics)."""
  z = _latents(spec, key, batch_size)

  def loss_fn(params):
    fake, batch_stats = generate(spec, params, state.generator_batch_stats, z, train=True)
    d_fake = spec.critic.apply({"params": state.critic_params}, fake)
    loss = spec.loss.generator_loss(d_fake)
    return loss, (batch_stats, {"generator/loss": loss, "generator/score_fake": jnp.mean(d_fake)})

  grads, (batch_stats, metrics) = jax.grad(loss_fn, has_aux=True)(state.generator_params)
  metrics = jax.tree.map(jax.lax.stop_gradient, metrics)
  metrics["generator/param_grad_norm"] = optax.tree.norm(grads)
  updates, opt_state = spec.generator_tx.update(grads, state.generator_opt_state,
                                                state.generator_params)
  params = optax.apply_updates(state.generator_params, updates)
  return params, opt_state, batch_stats, metrics


def _update_ema(spec: StepSpec, ema, params, step):
  if spec.ema_decay is None:
    return ema
  # Before ema_start the average just tracks the weights (no early-iterate bias).
  decay = jnp.where(step >= spec.ema_start, spec.ema_decay, 0.0)
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, params)


# --- The step -------------------------------------------------------------------


def train_step(state: GANState, real, *, spec: StepSpec):
  """n_critic critic updates (in lax.fori_loop) then one generator update.

  Args:
    state: the GANState.
    real: [n_critic, B, ...] real examples, one batch per critic update.
    spec: static StepSpec (bind with functools.partial before jax.jit; keyword-only).

  Returns:
    (new state, metrics): metrics is a flat dict of scalars; critic metrics are
    averaged over the n_critic updates.
  """
  if real.shape[0] != spec.n_critic:
    raise ValueError(f"real has {real.shape[0]} critic batches, spec.n_critic={spec.n_critic}")
  keys = rng_lib.step_keys(state.key, state.step, ("critic", "generator"))

  def body(i, carry):
    s, metric_sums = carry
    params, opt_state, batch_stats, metrics = critic_update(
        spec, s, real[i], jax.random.fold_in(keys["critic"], i))
    s = s.replace(critic_params=params, critic_opt_state=opt_state,
                  generator_batch_stats=batch_stats)
    return s, jax.tree.map(jnp.add, metric_sums, metrics)

  metric_shapes = jax.eval_shape(
      lambda: critic_update(spec, state, real[0], keys["critic"])[3])
  zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), metric_shapes)
  if spec.n_critic == 1:
    # One update needs no loop. A one-trip fori_loop still compiles to an XLA while
    # loop, and XLA:CPU ran the DRAGAN DCGAN32 step 32x slower inside one (6.45 vs
    # 0.20 s; benchmarks/step_throughput.py): the same penalty on a rolled loop.
    state, metric_sums = body(0, (state, zeros))
  else:
    # unroll >= n_critic means "fully"; unroll=True lets XLA see straight-line code.
    unroll = True if spec.unroll >= spec.n_critic else spec.unroll
    state, metric_sums = jax.lax.fori_loop(0, spec.n_critic, body, (state, zeros),
                                           unroll=unroll)
  metrics = jax.tree.map(lambda m: m / spec.n_critic, metric_sums)

  g_params, g_opt_state, batch_stats, g_metrics = generator_update(
      spec, state, real.shape[1], keys["generator"])
  metrics.update(g_metrics)
  # The rates of this step's first critic update and of its generator update.
  metrics["critic/learning_rate"] = spec.critic_lr(state.step * spec.n_critic)
  metrics["generator/learning_rate"] = spec.generator_lr(state.step)
  new_step = state.step + 1
  state = state.replace(
      step=new_step,
      generator_params=g_params,
      generator_opt_state=g_opt_state,
      generator_batch_stats=batch_stats,
      ema_params=_update_ema(spec, state.ema_params, g_params, new_step),
  )
  return state, metrics
