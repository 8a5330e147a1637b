"""Critic regularisers: gradient penalties, their penalty points, weight clipping.

The gradient penalty takes a critic *closure* `f: x[B, ...] -> scores[B]`, not
parameters, so the inner derivative is over the inputs only and the whole
penalty composes inside the outer `jax.grad` over critic parameters.

    penalty = E_x[(||grad_x f(x)||_2 - k)^2]           (two-sided, WGAN-GP eq. 3)
    penalty = E_x[max(0, ||grad_x f(x)||_2 - k)^2]     (one-sided, WGAN-GP §4 / App.)
    penalty = 1/2 E_x[||grad_x f(x)||_2^2]             (R1 at reals, R2 at fakes;
                                                        Mescheder et al. 2018, §4.1)

The per-example gradient comes from one backward pass of sum_b f(x)_b, which is
exact only if examples do not interact inside the critic: no BatchNorm in a
penalised critic (WGAN-GP §4, "No critic batch normalization"). A spectrally
normalised critic's closure applies it with update_stats=False and the update's
incoming u, so the inner derivative sees a fixed normalisation and writes
nothing (jaxgan/models/layers.py).

Two equivalent ways to get the parameter gradient of the penalty:
  double_backward  jax.grad of the input-gradient (reverse-over-reverse). The
                   reference: what `autograd.grad(create_graph=True)` does.
  jvp              reverse-over-forward. With g = grad_x f(x) held constant and
                   u = dpenalty/dg, d/dtheta penalty = d/dtheta <u, grad_x f(x)>,
                   and <u, grad_x f(x)> is the forward-mode derivative of f along
                   u. So penalty + s - stop_gradient(s), s = sum(jvp(f, x, u)),
                   has the penalty's value and its exact gradient (w.r.t. the
                   parameters f closes over and w.r.t. x), while the outer
                   reverse pass differentiates a JVP rather than a VJP, which
                   XLA:CPU runs several times faster on conv critics.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgan import rng as rng_lib

PENALTY_NAMES = ("none", "wgan_gp", "dragan", "r1", "r2")
PENALTY_METHODS = ("double_backward", "jvp")
DRAGAN_PERTURBATIONS = ("gaussian", "std_uniform")


def gradient_norms(grads, eps):
  """Per-example L2 norm over every non-batch axis, eps inside the sqrt.

  The epsilon keeps the norm differentiable where the gradient is exactly zero
  (d sqrt(s)/ds is infinite at 0).
  """
  axes = tuple(range(1, grads.ndim))
  return jnp.sqrt(jnp.sum(jnp.square(grads), axis=axes) + eps)


def _penalty_from_grads(grads, target, one_sided, eps):
  norms = gradient_norms(grads, eps)
  gap = norms - target
  if one_sided:
    gap = jax.nn.relu(gap)
  return jnp.mean(jnp.square(gap)), norms


def _input_grads(critic_fn, x):
  return jax.grad(lambda x_: jnp.sum(critic_fn(x_)))(x)


def gradient_penalty(critic_fn, x, *, target=1.0, one_sided=False,
                     method="double_backward", eps=1e-12):
  """Gradient penalty of `critic_fn` at points `x`.

  Args:
    critic_fn: x[B, ...] -> scores[B]; examples must not interact.
    x: penalty points [B, ...] (interpolates, perturbed reals, ...).
    target: the norm k the gradient is pulled towards (1 in WGAN-GP/DRAGAN).
    one_sided: penalise only norms above `target`.
    method: "double_backward" or "jvp" (same value, same gradients).
    eps: added inside the sqrt of the norm.

  Returns:
    (penalty scalar, grad_norms[B]).
  """
  return _penalty_by_method(
      critic_fn, x, lambda g: _penalty_from_grads(g, target, one_sided, eps), method)


def squared_gradient_penalty(critic_fn, x, *, method="double_backward", eps=1e-12):
  """R1 / R2 regulariser (Mescheder et al. 2018): 1/2 E_x[||grad_x f(x)||^2].

  R1 takes the real examples as `x`, R2 the generated ones. The factor 1/2 is
  the paper's, so a caller weighting this by gamma gets its gamma/2 E||grad||^2.

  Args:
    critic_fn: x[B, ...] -> scores[B]; examples must not interact.
    x: penalty points [B, ...].
    method: "double_backward" or "jvp" (same value, same gradients).
    eps: added inside the sqrt of the reported norms only; the penalty is the
      squared norm itself, smooth at a zero gradient.

  Returns:
    (penalty scalar, grad_norms[B]).
  """
  def from_grads(grads):
    axes = tuple(range(1, grads.ndim))
    penalty = 0.5 * jnp.mean(jnp.sum(jnp.square(grads), axis=axes))
    return penalty, gradient_norms(grads, eps)

  return _penalty_by_method(critic_fn, x, from_grads, method)


def _penalty_by_method(critic_fn, x, from_grads, method):
  """from_grads(grad_x f(x)) -> (penalty, norms), differentiable by either method."""
  if method == "double_backward":
    return from_grads(_input_grads(critic_fn, x))
  if method == "jvp":
    grads = jax.lax.stop_gradient(_input_grads(critic_fn, x))
    (penalty, norms), pullback = jax.vjp(from_grads, grads)
    direction, = pullback((jnp.ones_like(penalty), jnp.zeros_like(norms)))
    direction = jax.lax.stop_gradient(direction)
    _, tangent = jax.jvp(critic_fn, (x,), (direction,))
    surrogate = jnp.sum(tangent)
    return penalty + surrogate - jax.lax.stop_gradient(surrogate), norms
  raise ValueError(
      f"unknown penalty.method {method!r}; allowed: {', '.join(PENALTY_METHODS)}")


# --- Penalty points -----------------------------------------------------------


def _per_example(values, ndim):
  return values.reshape(values.shape + (1,) * (ndim - 1))


def interpolates(keys, real, fake):
  """WGAN-GP points eps*real + (1-eps)*fake, eps ~ U[0,1] per example (Alg. 1).

  keys: one PRNG key per example [B].
  """
  eps = _per_example(rng_lib.uniform(keys), real.ndim).astype(real.dtype)
  return eps * real + (1.0 - eps) * fake


def dragan_points(keys, real, *, perturbation, noise_variance, noise_scale):
  """DRAGAN penalty points around the real data.

  perturbation:
    "gaussian"    x + delta, delta ~ N(0, c I) with c = noise_variance: the
                  paper's form (Kodali et al. 2017, eq. 9, "c ~ 10").
    "std_uniform" x_p = x + noise_scale * std(x) * U[0,1] (std over the whole
                  batch, noise elementwise), then a random interpolate
                  x + alpha (x_p - x), alpha ~ U[0,1] per example: the authors'
                  released code (noise_scale 0.5).
  keys: one PRNG key per example [B].
  std(x) is over the whole (global) batch, as in the authors' code; under a
  sharded jit XLA reduces it across devices, so the points do not depend on how
  the batch is split.
  """
  shape = real.shape[1:]
  if perturbation == "gaussian":
    noise = rng_lib.normal(keys, shape, real.dtype)
    return real + jnp.sqrt(noise_variance).astype(real.dtype) * noise
  if perturbation == "std_uniform":
    noise_keys, alpha_keys = jax.vmap(lambda k: jax.random.split(k))(keys).swapaxes(0, 1)
    noise = rng_lib.uniform(noise_keys, shape, real.dtype)
    perturbed = real + noise_scale * jnp.std(real) * noise
    alpha = _per_example(rng_lib.uniform(alpha_keys), real.ndim).astype(real.dtype)
    return real + alpha * (perturbed - real)
  raise ValueError(
      f"unknown penalty.perturbation {perturbation!r}; allowed: "
      f"{', '.join(DRAGAN_PERTURBATIONS)}")


# --- Weight clipping ----------------------------------------------------------


def clip_weights(params, clip):
  """Projects every critic parameter onto [-clip, clip] (WGAN, Alg. 1 line 7)."""
  return jax.tree.map(lambda p: jnp.clip(p, -clip, clip), params)
