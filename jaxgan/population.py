"""Populations: many independent GANs trained by one compiled step.

`population.size = n` trains the seeds S, ..., S+n-1 (S = config.seed), each
crossed with every combination of `population.sweep` values: K members, numbered
sweep combination by combination, the seed varying fastest. Member i is the
single run `member_config(config, i)` describes and trains as it would: the same
initialisation (from `rng.run_key(seed)`), the same random draws (from the
state's own key) and the same data order (its own iterator, seeded with its seed).
Members differ only in what the step takes as data, the `train.HParams`
(SWEEPABLE); validation refuses a sweep over anything that shapes the computation.

A `PopulationState` stacks the members' GANStates along a leading member axis,
with their HParams [K] and `diverged_at` [K]. `population_step` runs
`train.train_step` for every member: vmapped over the member axis
(`population.method` "vmap"), one after another in a loop (`lax.map`, "map") or
one after another written out ("unroll": K copies of the single run's step in one
program, compiled K times over). A member
whose update is non-finite is frozen at its last finite state and `diverged_at`
records the step; the others train on (jaxgan/loop.py reports it).

A member agrees with its single run to the last bit at first (XLA may sum a
batched, or looped, matrix product in another order), and a GAN's dynamics
amplify the first difference until it is as far from it as another seed's run:
the same distribution, not the same trajectory
(benchmarks/results/population_drift_*.md). To continue one member exactly,
export it (restore.export_member, --mode=export).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import Iterator

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from scipy import stats

from jaxgan import factory
from jaxgan import rng as rng_lib
from jaxgan import train as train_lib

# HParams field -> the config key a sweep over it replaces, in HParams order;
# all but the AC-GAN weights, since a population is unconditional (validation).
SWEEPABLE = {
    "penalty_weight": "penalty.weight",
    "noise_variance": "penalty.noise_variance",
    "noise_scale": "penalty.noise_scale",
    "critic_lr": "optimizer.critic.learning_rate",
    "critic_b1": "optimizer.critic.b1",
    "critic_b2": "optimizer.critic.b2",
    "critic_decay": "optimizer.critic.decay",
    "generator_lr": "optimizer.generator.learning_rate",
    "generator_b1": "optimizer.generator.b1",
    "generator_b2": "optimizer.generator.b2",
    "generator_decay": "optimizer.generator.decay",
    "ema_decay": "ema.decay",
}

# Evaluation numbers where higher is better; for every other one (distances,
# divergences) lower is better.
HIGHER_IS_BETTER = ("modes_covered", "modes_covered_strict", "hq_percent",
                    "classes_covered", "classes_covered_strict", "mean_max_prob")


# --- Members ------------------------------------------------------------------------


def swept(config) -> dict[str, tuple[float, ...]]:
  """{field: values} of the sweep's non-empty entries, in SWEEPABLE order."""
  sweep = config.population.sweep
  return {f: tuple(float(v) for v in sweep[f]) for f in SWEEPABLE if len(sweep[f])}


def num_members(config) -> int:
  """K: population.size seeds times the sweep's combinations."""
  return config.population.size * math.prod(len(v) for v in swept(config).values())


def is_population(config) -> bool:
  """Whether the config trains more than one run (else: a single run, no member axis)."""
  return num_members(config) > 1


def combinations(config) -> list[tuple[int, tuple[tuple[str, float], ...]]]:
  """(seed, swept values) of every member, in index order (jaxgan/runs.py's Members)."""
  grid = swept(config)
  return [(config.seed + s, tuple(zip(grid, combo)))
          for combo in itertools.product(*grid.values()) for s in range(config.population.size)]


@dataclasses.dataclass(frozen=True)
class Group:
  """One sweep combination and its members (one per seed; no sweep: all)."""

  values: tuple[tuple[str, float], ...]
  members: tuple[int, ...]


def groups(config) -> list[Group]:
  """The sweep combinations in member order, each with its members' indices."""
  size, every = config.population.size, combinations(config)
  return [Group(every[g][1], tuple(range(g, g + size))) for g in range(0, len(every), size)]


def member_config(config, index: int) -> ml_collections.ConfigDict:
  """The single-run config of member `index`: its seed and values, no population."""
  seed, values = combinations(config)[index]
  out = config.copy_and_resolve_references()
  out.seed = seed
  for field, value in values:
    group, leaf = SWEEPABLE[field].rsplit(".", 1)
    node = out
    for part in group.split("."):
      node = node[part]
    node[leaf] = value
  out.population.size = 1
  for field in SWEEPABLE:
    out.population.sweep[field] = ()
  return out


def stacked_hparams(config) -> train_lib.HParams:
  """Every member's HParams as float32 arrays [K] (the swept ones reach the step)."""
  each = [factory.hparams(member_config(config, i)) for i in range(num_members(config))]
  return jax.tree.map(lambda *v: np.asarray(v, np.float32), *each)


# --- State and step --------------------------------------------------------------------


@flax.struct.dataclass
class PopulationState:
  """A population's training state; every leaf has a leading member axis [K, ...]."""

  members: train_lib.GANState
  hparams: train_lib.HParams  # float32 [K]: each member's scalar hyperparameters
  diverged_at: jax.Array      # int32 [K]: the step whose update was non-finite; 0 = training

  # Restored as placeholders (jaxgan/checkpoint.py) and rebuilt from the config by
  # `with_config_hparams`: they are the config's values, and a checkpoint written
  # before HParams gained a field must still restore.
  REBUILT_ON_RESTORE = ("hparams",)


def with_config_hparams(state: PopulationState, config) -> PopulationState:
  """`state` with its hyperparameters from `config` (after a restore)."""
  return state.replace(hparams=stacked_hparams(config))


def init_state(config, spec: train_lib.StepSpec, data_shape) -> PopulationState:
  """Every member's initial state, each exactly its single run's (host arrays)."""
  states = [train_lib.init_state(spec, rng_lib.run_key(seed), data_shape)
            for seed, _ in combinations(config)]
  return PopulationState(
      members=jax.tree.map(lambda *x: np.stack([np.asarray(v) for v in x]), *states),
      hparams=stacked_hparams(config),
      diverged_at=np.zeros((len(states),), np.int32))


def abstract_state(config, one) -> PopulationState:
  """The shapes and dtypes of `init_state`'s result from `one` member's (its GANState's)."""
  k = num_members(config)
  return PopulationState(
      members=jax.tree.map(lambda s: jax.ShapeDtypeStruct((k, *s.shape), s.dtype), one),
      hparams=jax.tree.map(lambda _: jax.ShapeDtypeStruct((k,), jnp.float32),
                           factory.hparams(config)),
      diverged_at=jax.ShapeDtypeStruct((k,), jnp.int32))


def member_state(state: PopulationState, index: int) -> train_lib.GANState:
  """Member `index`'s GANState (host arrays) out of a host PopulationState."""
  return jax.tree.map(lambda x: np.asarray(x[index]), state.members)


def _finite_per_member(tree) -> jax.Array:
  """bool [K]: whether every float in member k's slice of `tree` is finite."""
  checks = [jnp.all(jnp.isfinite(x), axis=tuple(range(1, x.ndim)))
            for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(checks), axis=0)


METHODS = ("auto", "vmap", "map", "unroll")
# The most members "auto" unrolls on CPU: compile time grows by one single run's
# compilation per member written out (benchmarks/results/population.md).
UNROLL_MAX = 16


def resolve_method(config, backend: str | None = None) -> str:
  """How the step runs its members: population.method, or the per-backend default.

  CPU default: unroll up to UNROLL_MAX members, the only method that keeps the
  single runs' speed on convolutional models there (map puts every convolution
  inside a while loop, where XLA:CPU runs their weight gradients through its
  generic code, tens of times slower; vmap turns them into grouped convolutions);
  beyond UNROLL_MAX, vmap, whose compile time does not grow with K
  (benchmarks/results/population.md). Other backends: vmap, not yet measured.
  """
  if config.population.method != "auto":
    return config.population.method
  backend = backend or jax.default_backend()
  if backend != "cpu":
    return "vmap"
  return "unroll" if num_members(config) <= UNROLL_MAX else "vmap"


def population_step(state: PopulationState, real, *, spec: train_lib.StepSpec,
                    swept_fields: tuple[str, ...] = (), method: str = "vmap"):
  """One train_step of every member (batches `real` [K, n_critic, B, ...]); members
  never exchange anything. Returns (new state, metrics [K] plus
  "population/diverged_at"); a member already diverged, or whose update here is
  non-finite, keeps its previous state.

  Only `swept_fields` (static) come from state.hparams; the others stay
  spec.hparams' Python floats, constants to XLA as in the single run (a traced
  value can round differently where XLA folds a constant, e.g. a division by it).
  `method`: "vmap", "map" or "unroll" (resolve_method).
  """
  def one(member):
    member_state_, hparams, member_real = member
    hparams = spec.hparams.replace(**{f: getattr(hparams, f) for f in swept_fields})
    return train_lib.train_step(member_state_, member_real, spec=spec, hparams=hparams)

  members = (state.members, state.hparams, real)
  if method == "vmap":
    new, metrics = jax.vmap(lambda *m: one(m))(*members)
  elif method == "unroll":
    outs = [one(jax.tree.map(lambda x, i=i: x[i], members))
            for i in range(state.diverged_at.shape[0])]
    new, metrics = jax.tree.map(lambda *xs: jnp.stack(xs), *outs)
  else:
    new, metrics = jax.lax.map(one, members)
  training = state.diverged_at == 0
  finite = _finite_per_member(metrics) & _finite_per_member(new)
  keep = training & finite

  def select(new_leaf, old_leaf):
    return jnp.where(keep.reshape((-1,) + (1,) * (new_leaf.ndim - 1)), new_leaf, old_leaf)

  diverged_at = jnp.where(training & ~finite, state.members.step + 1, state.diverged_at)
  metrics = dict(metrics, **{"population/diverged_at": diverged_at})
  return state.replace(members=jax.tree.map(select, new, state.members),
                       diverged_at=diverged_at), metrics


def step_fn(config):
  """population_step with this config's swept fields and method bound (for
  mesh.compile_step)."""
  return functools.partial(population_step, swept_fields=tuple(swept(config)),
                           method=resolve_method(config))


# --- Data ----------------------------------------------------------------------------


class PopulationIterator:
  """Items [K, n_critic, B, ...]: member k's slice is item `position` (the next
  item's index) of the single run with member k's seed. Members sharing a seed
  share one iterator."""

  def __init__(self, iterators: dict, seeds: list[int]):
    self._iterators = iterators  # {seed: DataIterator}
    self._seeds = seeds

  @property
  def position(self) -> int:
    return next(iter(self._iterators.values())).position

  def __iter__(self) -> Iterator:
    return self

  def __next__(self) -> np.ndarray:
    items = {seed: next(it) for seed, it in self._iterators.items()}
    return np.stack([items[seed] for seed in self._seeds])

  def close(self) -> None:
    for it in self._iterators.values():
      it.close()


# --- Statistics over the members ---------------------------------------------------------


def summarize(values) -> dict:
  """n, mean, sample std and `ci95`, the half-width of the 95% confidence interval
  of the mean: t(0.975, n-1) * std / sqrt(n). With one value, std and ci95 are None."""
  x = np.asarray(values, np.float64)
  n = int(x.size)
  out = {"n": n, "mean": float(np.mean(x)) if n else None, "std": None, "ci95": None}
  if n > 1:
    std = float(np.std(x, ddof=1))
    out["std"] = std
    out["ci95"] = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n))
  return out


def summary_fields(values: dict, members: int) -> dict:
  """The fields of a statistics record in metrics.jsonl: summary="population", the
  sweep combination it covers (none with no sweep) and how many members it used."""
  return {"summary": "population", **({"sweep": dict(values)} if values else {}),
          "members": members}


def statistics_tag(values: dict) -> str:
  """TensorBoard prefix of a statistics record: population/ or
  population/penalty_weight_1/ (TensorBoard turns '=' and ',' in tags into '_')."""
  label = "_".join(f"{k}_{v:g}" for k, v in values.items())
  return f"population/{label}/" if label else "population/"


def member_statistics(groups_: list[Group], metrics: list[dict], diverged: dict,
                      rate: float) -> list[tuple[dict, str, dict]]:
  """(values, TensorBoard prefix, record fields) of each sweep combination's
  statistics of one step: KEY/mean, KEY/std, KEY/ci95 over its members still
  training (not in `diverged`); the first also carries the steps per second
  (`rate`, when finite) and the member steps per second."""
  training = [i for i in range(len(metrics)) if i not in diverged]
  out = []
  for g, group in enumerate(groups_):
    used = [i for i in group.members if i not in diverged]
    values = {}
    for key in metrics[0]:
      stats_ = summarize([metrics[i][key] for i in used]) if used else {}
      values.update({f"{key}/{s}": stats_[s] for s in ("mean", "std", "ci95")
                     if stats_.get(s) is not None})
    if g == 0 and math.isfinite(rate):  # no rate before the first interval ends
      values["perf/steps_per_second"] = rate
      values["perf/member_steps_per_second"] = rate * len(training)
    sweep = dict(group.values)
    out.append((values, statistics_tag(sweep), summary_fields(sweep, len(used))))
  return out


def best_member(values: dict, metric: str):
  """(member index, value) of the best of {member: value} by `metric`'s direction;
  None values are skipped; None if none is left."""
  scored = {k: v for k, v in values.items() if v is not None and math.isfinite(v)}
  if not scored:
    return None
  pick = max if metric in HIGHER_IS_BETTER else min
  index = pick(scored, key=lambda k: scored[k])
  return index, scored[index]
