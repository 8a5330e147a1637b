"""GAN losses as pure functions of critic scores.

Every family provides `critic_loss(d_real, d_fake) -> scalar` (minimised by the
critic / discriminator) and `generator_loss(d_fake) -> scalar` (minimised by the
generator). Scores are raw critic outputs (logits for the probabilistic losses),
shape [B]. No config reads here: hyperparameters are keyword arguments, and
`get_loss(name, **options)` binds them from the config.

References:
  wasserstein     Arjovsky et al. 2017 (WGAN), Gulrajani et al. 2017 (WGAN-GP).
  non_saturating  Goodfellow et al. 2014, the "-log D(G(z))" generator trick.
  minimax         Goodfellow et al. 2014, the original log(1 - D(G(z))) objective.
  least_squares   Mao et al. 2017 (LSGAN), eq. (2) with targets a (fake), b (real),
                  c (what G wants D to say of fakes); the paper's 0-1 coding is
                  a=0, b=1, c=1.
  hinge           Lim & Ye 2017; Miyato et al. 2018 (SN-GAN).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp


# --- Wasserstein --------------------------------------------------------------


def wasserstein_critic_loss(d_real, d_fake):
  """-(E[D(x)] - E[D(G(z))]): the critic maximises the Wasserstein estimate."""
  return jnp.mean(d_fake) - jnp.mean(d_real)


def wasserstein_generator_loss(d_fake):
  """-E[D(G(z))]."""
  return -jnp.mean(d_fake)


# --- Standard GAN (logits) ----------------------------------------------------


def non_saturating_critic_loss(d_real, d_fake):
  """Binary cross-entropy: -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))."""
  # softplus(-t) == -log sigmoid(t), computed without overflow.
  return jnp.mean(jax.nn.softplus(-d_real)) + jnp.mean(jax.nn.softplus(d_fake))


def non_saturating_generator_loss(d_fake):
  """-log sigmoid(D(G(z))): strong gradients early in training (Goodfellow 2014 §3)."""
  return jnp.mean(jax.nn.softplus(-d_fake))


def minimax_generator_loss(d_fake):
  """log(1 - sigmoid(D(G(z)))) = -softplus(D(G(z))): the saturating original."""
  return -jnp.mean(jax.nn.softplus(d_fake))


# --- Least squares ------------------------------------------------------------


def least_squares_critic_loss(d_real, d_fake, *, a=0.0, b=1.0):
  """1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2] (Mao et al. 2017, eq. 2)."""
  return 0.5 * jnp.mean((d_real - b) ** 2) + 0.5 * jnp.mean((d_fake - a) ** 2)


def least_squares_generator_loss(d_fake, *, c=1.0):
  """1/2 E[(D(G(z)) - c)^2]."""
  return 0.5 * jnp.mean((d_fake - c) ** 2)


# --- Hinge --------------------------------------------------------------------


def hinge_critic_loss(d_real, d_fake):
  """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
  return jnp.mean(jax.nn.relu(1.0 - d_real)) + jnp.mean(jax.nn.relu(1.0 + d_fake))


# -E[D(G(z))]: the hinge generator loss is the Wasserstein one (Lim & Ye 2017).
hinge_generator_loss = wasserstein_generator_loss


# --- Registry -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Loss:
  """A loss family: the critic's and the generator's objective, options bound."""

  name: str
  critic_loss: Callable[..., jax.Array]
  generator_loss: Callable[..., jax.Array]


# name -> (critic_loss, generator_loss, {option: which of the two takes it}).
_FAMILIES = {
    "wasserstein": (wasserstein_critic_loss, wasserstein_generator_loss, {}),
    "non_saturating": (non_saturating_critic_loss, non_saturating_generator_loss, {}),
    "minimax": (non_saturating_critic_loss, minimax_generator_loss, {}),
    "least_squares": (
        least_squares_critic_loss,
        least_squares_generator_loss,
        {"a": "critic", "b": "critic", "c": "generator"},
    ),
    "hinge": (hinge_critic_loss, hinge_generator_loss, {}),
}
LOSS_NAMES = tuple(_FAMILIES)


def get_loss(name: str, **options) -> Loss:
  """Returns the loss family `name` with its keyword options bound.

  Raises ValueError naming the bad name (or option) and listing the allowed ones.
  """
  if name not in _FAMILIES:
    raise ValueError(
        f"unknown loss.name {name!r}; allowed: {', '.join(LOSS_NAMES)}")
  critic_fn, generator_fn, allowed = _FAMILIES[name]
  unknown = sorted(set(options) - set(allowed))
  if unknown:
    raise ValueError(
        f"loss {name!r} takes no option(s) {unknown}; allowed options: "
        f"{sorted(allowed) or 'none'}")
  critic_kw = {k: v for k, v in options.items() if allowed[k] == "critic"}
  generator_kw = {k: v for k, v in options.items() if allowed[k] == "generator"}
  return Loss(
      name=name,
      critic_loss=functools.partial(critic_fn, **critic_kw),
      generator_loss=functools.partial(generator_fn, **generator_kw),
  )
