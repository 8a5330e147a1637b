"""Config -> what a mode needs: the runs a workdir holds, their state, step and data.

This is the one place that knows one run from many. `Runs(config)` says which runs
a config trains: a single run is one member (index 0, the config's seed, no
sub-folder, no tag); a population (jaxgan/population.py) is K members, each with
its own seed, swept values, config, output sub-folder and TensorBoard tag. The
recorder, sampling, evaluation, export and restore loop over `runs.members`;
what differs for a population (per-member metrics, statistics records, its one
picture of every member, its evaluation summary) comes from `Runs` methods that
are the identity, or nothing, for a single run.

`setup(config)` builds, once, what every mode, benchmark and test needs: the
data shape, the StepSpec, the mesh, the (abstract) state, the compiled step and
the data iterator.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import data as data_lib
from jaxgan import errors
from jaxgan import eval as eval_lib
from jaxgan import factory
from jaxgan import mesh as mesh_lib
from jaxgan import notes
from jaxgan import rng as rng_lib
from jaxgan import sample as sample_lib
from jaxgan import train as train_lib
from jaxgan import validation
from jaxgan.population import (
    PopulationIterator, abstract_state, combinations, groups, init_state, member_config,
    member_state, member_statistics, num_members, resolve_method, statistics_tag, step_fn,
    swept, with_config_hparams)

logger = logging.getLogger("jaxgan")


@dataclasses.dataclass(frozen=True)
class Member:
  """One run of a workdir: a single run, or one member of a population."""

  index: int
  seed: int
  values: tuple[tuple[str, float], ...]  # (sweep field, value); () for a single run
  config: ml_collections.ConfigDict      # the single-run config of this member
  subdir: str                            # its folder under samples/ and eval/ ("" if alone)
  tag: str                               # its TensorBoard prefix ("" if alone)

  @property
  def name(self) -> str:
    """'member 3'; '' for a single run."""
    return f"member {self.index}" if self.subdir else ""

  @property
  def fields(self) -> dict:
    """What marks its records in metrics.jsonl: {"member": i}; {} for a single run."""
    return {"member": self.index} if self.subdir else {}

  def describe(self) -> str:
    """'member 3 (seed 1, penalty_weight=1)'; 'the run' for a single run."""
    if not self.subdir:
      return "the run"
    parts = [f"seed {self.seed}"] + [f"{k}={v:g}" for k, v in self.values]
    return f"{self.name} ({', '.join(parts)})"

  def as_json(self) -> dict:
    return {"member": self.index, "seed": self.seed, **dict(self.values)}


class Runs:
  """The runs a config trains together: `members` (one for a single run)."""

  def __init__(self, config):
    self.config = config
    self.many = num_members(config) > 1
    if self.many:
      self.members = tuple(
          Member(i, seed, values, member_config(config, i), f"member_{i:02d}", f"member_{i}/")
          for i, (seed, values) in enumerate(combinations(config)))
    else:
      self.members = (Member(0, config.seed, (), config, "", ""),)
    self.groups = groups(config) if self.many else ()

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
      raise errors.ConfigError(f"--member={index}: member {index} does not exist: the "
                               f"population has {len(self)} members, 0 to {len(self) - 1}")
    return self.members[index]

  def member_state(self, state, index: int) -> train_lib.GANState:
    """Member `index`'s GANState out of a host state of these runs."""
    return member_state(state, index) if self.many else state

  def diverged_at(self, state) -> dict[int, int]:
    """{member index: the step it diverged at} of a host state (a single run: {})."""
    if not self.many:
      return {}
    return {i: int(d) for i, d in enumerate(np.asarray(state.diverged_at)) if d}

  def describe(self) -> str:
    """A population's members in words: sizes, seeds, sweep and method."""
    cfg = self.config
    return (f"population of {len(self)} members: seeds {cfg.seed}-"
            f"{cfg.seed + cfg.population.size - 1}" + "".join(
                f" x {k} {', '.join(f'{v:g}' for v in vals)}" for k, vals in swept(cfg).items())
            + f"; method {resolve_method(cfg)}")

  # --- What the members' steps report -------------------------------------------------

  def split_metrics(self, metrics: dict, step: int) -> list[tuple[dict, int]]:
    """Host metrics of one step -> per member (its metrics, the step it diverged at or 0).

    A single run diverges at `step` if a metric is non-finite; a population's step
    reports (and freezes) each member's divergence itself."""
    if not self.many:
      bad = any(not math.isfinite(float(v)) for v in metrics.values())
      return [(metrics, step if bad else 0)]
    metrics = {k: np.asarray(v) for k, v in metrics.items()}
    diverged_at = metrics.pop("population/diverged_at")
    return [({k: v[i] for k, v in metrics.items()}, int(diverged_at[i]))
            for i in range(len(self))]

  def records(self, metrics: list[dict], diverged: dict, rate: float):
    """(values, TensorBoard prefix, record fields) of a logged step: each member's
    record, and a population's statistics over the members still training; `rate`
    (steps per second) goes into the single run's record or the first statistics one."""
    if not self.many:
      perf = {"perf/steps_per_second": rate} if math.isfinite(rate) else {}
      return [(dict(metrics[0], **perf), "", {})]
    out = [({}, m.tag, dict(m.fields, diverged_at=diverged[m.index])) if m.index in diverged
           else (metrics[m.index], m.tag, m.fields) for m in self.members]
    return out + member_statistics(self.groups, metrics, diverged, rate)

  def divergence(self, why: dict[int, tuple[str, int, str]]) -> str:
    """Why the members stopped, from {member index: (what was non-finite, the step,
    its values)}: a single run's quantities and values, a population's steps."""
    if not self.many:
      what, at, values = why[0]
      return f"{what} at step {at}" + (f" ({values})" if values else "")
    return "every member diverged (" + ", ".join(
        f"member {i} at step {at}" for i, (_, at, _) in sorted(why.items())) + ")"

  def progress_note(self, training: list[int]) -> str:
    """What a progress line adds: over how many members its means are."""
    return f" | means over {len(training)} of {len(self)} members" if self.many else ""

  # --- Samples and evaluations --------------------------------------------------------

  def write_samples(self, spec, state, directory: str, step: int, *, members=None,
                    picture: bool = True, note: str = "", **options) -> tuple[dict, str | None]:
    """Each member's grids (sample.write_grids: `options`) and a population's one picture.

    Writes DIR/<member subdir>/step_N... for each of `members` (default: all) and,
    with `picture`, a population's DIR/step_N_members{suffix}.png titled with `note`.
    Returns ({member index: {label: paths}}, the picture's path or None).
    """
    chosen = self.members if members is None else members
    written = {m.index: sample_lib.write_grids(
        spec, self.member_state(state, m.index), m.config, os.path.join(directory, m.subdir),
        step, **options) for m in chosen}
    if not (self.many and picture):
      return written, None
    return written, sample_lib.write_members_picture(
        spec, [(m, self.member_state(state, m.index)) for m in self.members], self.config,
        directory, step, suffix=options.get("suffix", ""), note=note)

  def evaluators(self, spec, workdir: str, class_names=()) -> dict:
    """{member index: Evaluator}; a population's share one image set-up."""
    out = {}
    for m in self.members:
      out[m.index] = eval_lib.Evaluator(m.config, spec, workdir, class_names=class_names,
                                        member=m, share=out.get(0))
    return out

  def evaluate(self, evaluators: dict, state, step: int, members, diverged: dict,
               eval_dir: str, write, *, summarise: bool = True):
    """Evaluates `members` of a host `state` at `step`; returns (result, report).

    `write(values, TensorBoard prefix, record fields)` records each member's numbers
    and a population's statistics. A single run's result (or, without `summarise`,
    the one member's) is its own; a population's summarises its members (those in
    `diverged` left out) into EVAL_DIR/step_N.json. `report` is (summary line, what
    was written).
    """
    results = {}
    for m in members:
      results[m.index] = evaluators[m.index](self.member_state(state, m.index), step)
      write(eval_lib.flat_scalars(results[m.index]), m.tag, m.fields)
    if not (self.many and summarise):
      result = results[members[0].index]
      return result, (eval_lib.summary_line(result), [result["path"], *result["plots"]])
    metric = self.config.population.best_metric
    used = {i: r for i, r in results.items() if i not in diverged}
    result = eval_lib.population_result(step, used, self.members, self.groups, diverged, metric)
    if used and all(best is None for best in result["best"].values()):
      known = sorted({k for r in used.values() for v in r["generators"].values() for k in v})
      logger.warning("WARNING: population.best_metric %r is not among this evaluation's "
                     "numbers (%s); no best member named", metric, ", ".join(known))
    result["path"] = eval_lib.write_result(
        result, os.path.join(eval_dir, f"step_{step:06d}.json"))
    for fields, scalars in eval_lib.population_scalars(result):
      write(scalars, statistics_tag(fields.get("sweep", {})), fields)
    return result, (eval_lib.population_summary_line(result),
                    [result["path"], "each member's eval/member_NN/"])


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
    """Shapes and dtypes of `init_state`'s result, for restoring a checkpoint."""
    one = jax.eval_shape(functools.partial(train_lib.init_state, self.spec,
                                           sample_shape=self.data_shape),
                         rng_lib.run_key(self.config.seed))
    return abstract_state(self.config, one) if self.runs.many else one

  def init_state(self):
    """Every member's initial state (host arrays), each exactly its single run's."""
    if self.runs.many:
      return init_state(self.config, self.spec, self.data_shape)
    return train_lib.init_state(self.spec, rng_lib.run_key(self.config.seed), self.data_shape)

  def _rebuilt(self, state):
    """A restored state with what is rebuilt from the config (a population's HParams:
    the config's values are the run's, as spec.hparams are a single run's)."""
    return with_config_hparams(state, self.config) if self.runs.many else state

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

  def log_start(self, state, start: int) -> None:
    """The start-up lines: the members (a population), data, model sizes, steps, devices."""
    cfg, shape = self.config, self.data_shape
    if self.runs.many:
      logger.info("%s; members over %d device group(s) along \"population\", the batch over "
                  "%d along \"data\"", self.runs.describe(),
                  self.mesh.shape[mesh_lib.POPULATION], self.mesh.shape[mesh_lib.DATA])
    state = self.runs.member_state(state, 0)  # sizes below are per member
    size = "x".join(map(str, shape))
    logger.info(
        "%s: %s/%s on %s (%s), %s generator %s params, critic %s params; batch %d, "
        "n_critic %d (loop unroll %d); steps %d-%d on %d device(s) (%s)",
        "training", cfg.loss.name, cfg.penalty.name, cfg.dataset.name,
        f"{size}, {shape[-1]} channel(s)" if len(shape) == 3 else "2-D points",
        cfg.model.arch, f"{_num_params(state.generator_params):,}",
        f"{_num_params(state.critic_params):,}", cfg.train.batch_size, cfg.train.n_critic,
        self.spec.unroll, start + 1, cfg.train.num_steps, self.mesh.size,
        jax.default_backend())
    for note in notes.start_notes(cfg):  # defaults the user did not choose
      logger.info(note)

  def restore(self, checkpoints: str, step: int | None = None):
    """(step, host state, data position) of checkpoint `step` (None: the latest) in
    `checkpoints`, read-only."""
    with contextlib.closing(checkpoint_lib.Checkpointer(checkpoints, read_only=True)) as ckpt:
      step, state, position = ckpt.restore(self.abstract_state, step)
    return step, self._rebuilt(state), position

  def restore_or_init(self, checkpoints: str):
    """(step, host state, data position): the newest good checkpoint, or a new run."""
    if checkpoint_lib.has_steps(checkpoints):
      with contextlib.closing(checkpoint_lib.Checkpointer(
          checkpoints, max_to_keep=self.config.log.max_checkpoints)) as ckpt:
        restored = ckpt.restore_latest_good(self.abstract_state)
      if restored is not None:
        logger.info("resumed from step %d (%s)", restored[0], checkpoints)
        step, state, position = restored
        return step, self._rebuilt(state), position
    return 0, self.init_state(), 0

  def compile(self, state):
    """(compiled step, `state` placed on the mesh); the step donates its state."""
    state = mesh_lib.put_state(state, self.mesh)
    step = mesh_lib.compile_step(
        self.spec, self.mesh, state, self.batch_shape(),
        step_fn=step_fn(self.config) if self.runs.many else mesh_lib.step_on_batch)
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
        return PopulationIterator(data_lib.make_iterators(
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


def _num_params(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def setup(config, *, classes: tuple[str, ...] | None = None, devices=None) -> Setup:
  """Validates `config` (errors.ConfigError) and builds what a mode needs (nothing is
  computed yet). `classes`: a conditional run's class names (its classes.json; None
  reads them from the data); `devices`: the mesh's (default: every device of the job).
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
