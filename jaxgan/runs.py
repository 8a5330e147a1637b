"""Config -> what a mode needs: the runs a workdir holds, their state, step and data.

This is the one place that knows one run from many. `Runs(config)` says which runs
a config trains: a single run is one member (index 0, the config's seed, no
sub-folder, no tag); a population (jaxgan/population.py) is K members, each with
its own seed, swept values, config, output sub-folder and TensorBoard tag. Code
downstream (the recorder, sampling, evaluation, export, restore) loops over
`runs.members` and asks nothing else.

`setup(config)` builds, once, what training, sampling, evaluation, benchmarks and
tests all need: the data shape, the StepSpec, the device mesh, the abstract
state (for restoring), the initial state, the compiled step and the data iterator.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import ml_collections

from jaxgan import data as data_lib
from jaxgan import errors
from jaxgan import factory
from jaxgan import mesh as mesh_lib
from jaxgan import population as population_lib
from jaxgan import rng as rng_lib
from jaxgan import train as train_lib
from jaxgan import validation


@dataclasses.dataclass(frozen=True)
class Member:
  """One run of a workdir: a single run, or one member of a population."""

  index: int
  seed: int
  values: tuple[tuple[str, float], ...]  # (sweep field, value); () for a single run
  config: ml_collections.ConfigDict      # the single-run config of this member
  subdir: str                            # its folder under samples/ and eval/ ("" if alone)
  tag: str                               # its TensorBoard prefix ("" if alone)

  def describe(self) -> str:
    """'member 3 (seed 1, penalty_weight=1)'; 'the run' for a single run."""
    if not self.subdir:
      return "the run"
    parts = [f"seed {self.seed}"] + [f"{k}={v:g}" for k, v in self.values]
    return f"member {self.index} ({', '.join(parts)})"

  def as_json(self) -> dict:
    return {"member": self.index, "seed": self.seed, **dict(self.values)}


class Runs:
  """The runs a config trains together: `members` (one for a single run)."""

  def __init__(self, config):
    self.config = config
    self.many = population_lib.is_population(config)
    if self.many:
      self.members = tuple(
          Member(m.index, m.seed, m.values, population_lib.member_config(config, m.index),
                 population_lib.member_dir(m.index), f"member_{m.index}/")
          for m in population_lib.members(config))
    else:
      self.members = (Member(0, config.seed, (), config, "", ""),)

  def __len__(self) -> int:
    return len(self.members)

  def member(self, index: int | None) -> Member:
    """Member `index` (None: the only one of a single run); ConfigError if absent."""
    if index is None:
      if self.many:
        raise errors.ConfigError(f"this workdir holds a population of {len(self)} "
                                 f"members; name one with --member (0 to {len(self) - 1})")
      return self.members[0]
    if not self.many:
      raise errors.ConfigError(f"--member={index}: this is a single run, not a population")
    if not 0 <= index < len(self):
      raise errors.ConfigError(f"--member={index}: the population has {len(self)} members, "
                               f"0 to {len(self) - 1}")
    return self.members[index]

  def member_state(self, state, index: int) -> train_lib.GANState:
    """Member `index`'s GANState out of a host state of these runs."""
    if self.many:
      return population_lib.member_state(state, index)
    return state

  def init_state(self, spec, data_shape):
    """Every member's initial state (host arrays), each exactly its single run's."""
    if self.many:
      return population_lib.init_state(self.config, spec, data_shape)
    return train_lib.init_state(spec, rng_lib.run_key(self.config.seed), data_shape)

  def abstract_state(self, spec, data_shape):
    """Shapes and dtypes of `init_state`'s result, for restoring a checkpoint."""
    if self.many:
      return population_lib.abstract_state(self.config, spec, data_shape)
    return jax.eval_shape(functools.partial(train_lib.init_state, spec, sample_shape=data_shape),
                          rng_lib.run_key(self.config.seed))

  def after_restore(self, state):
    """A restored state with what is rebuilt from the config (a population's HParams)."""
    if self.many:
      return population_lib.with_config_hparams(state, self.config)
    return state

  def step_fn(self):
    """The function mesh.compile_step compiles for these runs."""
    if self.many:
      return population_lib.step_fn(self.config)
    return mesh_lib.step_on_batch


@dataclasses.dataclass
class Setup:
  """What a mode needs, built once from a config by `setup`."""

  config: ml_collections.ConfigDict
  runs: Runs
  data_shape: tuple[int, ...]
  classes: tuple[str, ...]  # a conditional run's class names; () otherwise
  spec: train_lib.StepSpec
  mesh: jax.sharding.Mesh

  @functools.cached_property
  def abstract_state(self):
    return self.runs.abstract_state(self.spec, self.data_shape)

  def init_state(self):
    """The runs' initial state on the host."""
    return self.runs.init_state(self.spec, self.data_shape)

  def batch_shape(self) -> jax.ShapeDtypeStruct | tuple:
    """The compiled step's batch: images [K?, n_critic, B, ...] (+ labels)."""
    cfg = self.config
    lead = (len(self.runs),) if self.runs.many else ()
    sharding = mesh_lib.batch_sharding(self.mesh)
    batch = jax.ShapeDtypeStruct((*lead, cfg.train.n_critic, cfg.train.batch_size,
                                  *self.data_shape), jnp.float32, sharding=sharding)
    if self.spec.num_classes:
      labels = jax.ShapeDtypeStruct((cfg.train.n_critic, cfg.train.batch_size), jnp.int32,
                                    sharding=sharding)
      return batch, labels
    return batch

  def compile(self, state):
    """(compiled step, `state` placed on the mesh); the step donates its state."""
    state = mesh_lib.put_state(state, self.mesh)
    step = mesh_lib.compile_step(self.spec, self.mesh, state, self.batch_shape(),
                                 step_fn=self.runs.step_fn())
    return step, state

  def global_batch(self, local):
    """This process's slice of a batch -> the global batch on the mesh."""
    return mesh_lib.global_batch(local, self.mesh)

  def open_data(self, position: int = 0):
    """The training data iterator at item `position` (a population: one per seed)."""
    cfg = self.config
    try:
      if self.runs.many:
        seeds = [m.seed for m in self.runs.members]
        return population_lib.PopulationIterator(data_lib.make_iterators(
            cfg.dataset, global_batch_size=cfg.train.batch_size, n_critic=cfg.train.n_critic,
            seeds=sorted(set(seeds)), position=position), seeds)
      return data_lib.make_iterator(
          cfg.dataset, global_batch_size=cfg.train.batch_size, n_critic=cfg.train.n_critic,
          seed=cfg.seed, position=position, process_index=jax.process_index(),
          process_count=jax.process_count(), with_labels=bool(self.classes))
    except errors.UserError:
      raise
    except ValueError as e:  # a dataset not prepared, an empty or broken folder
      raise errors.DataError(str(e)) from None


def setup(config, *, classes: tuple[str, ...] | None = None, devices=None) -> Setup:
  """Validates `config` and builds what a mode needs (nothing is computed yet).

  Args:
    config: a recipe's config (validated here; errors.ConfigError if it is bad).
    classes: a conditional run's class names (its classes.json); None reads them
      from the data. Ignored for an unconditional run.
    devices: the mesh's devices (default: every device of the job).
  """
  data_shape = validation.validate(config)
  runs = Runs(config)
  if runs.many and jax.process_count() > 1:
    raise errors.ConfigError(
        f"a population ({len(runs)} members) trains in one process, whose devices share "
        f"the members; this job has {jax.process_count()} processes")
  mesh = mesh_lib.make_mesh(devices, members=len(runs))
  mesh_lib.check_batch_size(config.train.batch_size, mesh)
  if config.model.conditional == "none":
    classes = ()
  elif classes is None:
    try:
      classes = tuple(data_lib.class_names(config.dataset))
    except ValueError as e:  # a dataset not prepared
      raise errors.DataError(str(e)) from None
  spec = factory.make_step_spec(config, data_shape, len(classes))
  return Setup(config, runs, data_shape, tuple(classes), spec, mesh)
