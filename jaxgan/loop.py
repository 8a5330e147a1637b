"""The training loop (restoring a finished run to sample or evaluate it: restore.py).

`train_and_evaluate(config, workdir)` validates the config, checks the workdir,
restores the newest good checkpoint (or initialises), opens the data and
compiles the step, and only then writes into the workdir (a run that never
started leaves nothing behind). Each step's metrics are fetched one step late,
so the host never stalls the device; a non-finite one stops the run naming the
step and the quantity before anything is saved over a good checkpoint.
SIGTERM / SIGINT save the current step and end the run normally.

A class-conditional run (model.conditional) reads labels with its images, and
keeps its class names in WORKDIR/classes.json (jaxgan/workdir.py), from which
sampling and evaluation later take them.

A population (jaxgan/population.py, `population.size` > 1 or a sweep) goes the
same way with a PopulationState, one data iterator per seed and the population
step; `_PopulationRecorder` writes per-member records, grids and evaluations
and the population's summaries, and reports a diverged member once while the
others train on.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import signal
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import config_io
from jaxgan import data as data_lib
from jaxgan import errors
from jaxgan import evaluate as evaluate_lib
from jaxgan import factory
from jaxgan import mesh as mesh_lib
from jaxgan import population as population_lib
from jaxgan import progress as progress_lib
from jaxgan import rng as rng_lib
from jaxgan import sample as sample_lib
from jaxgan import summary as summary_lib
from jaxgan import train as train_lib
from jaxgan import validation
from jaxgan import workdir as workdir_lib

logger = logging.getLogger("jaxgan")

NonFiniteError = errors.NonFiniteError


def train_and_evaluate(config, workdir: str, *,
                       allow_config_change: bool = False) -> train_lib.GANState:
  """Trains (or resumes) the run in `workdir`; returns the final state on the host.

  Raises errors.UserError subclasses (one line each) for a bad config, workdir or
  data, and errors.NonFiniteError when training diverges.
  """
  wd = workdir_lib.Workdir(workdir)
  data_shape = validation.validate(config)
  wd.check_writable()
  wd.check_config(config, allow_change=allow_config_change)
  population = population_lib.is_population(config)
  if population and jax.process_count() > 1:
    raise errors.ConfigError(
        f"a population ({population_lib.num_members(config)} members) trains in one "
        f"process, whose devices share the members; this job has {jax.process_count()} "
        f"processes")
  mesh = mesh_lib.make_mesh(members=population_lib.num_members(config))
  mesh_lib.check_batch_size(config.train.batch_size, mesh)
  classes = _training_classes(config, wd)
  spec = factory.make_step_spec(config, data_shape, len(classes))
  start, state, position = _restore_or_init(config, spec, data_shape, wd)
  if start >= config.train.num_steps:
    logger.info("the run in %s is complete (step %d of train.num_steps=%d); raise "
                "train.num_steps to train on", wd.path, start, config.train.num_steps)
    return state
  _log_start(config, spec, state, data_shape, start, mesh)
  iterator = _open_data(config, position, with_labels=bool(classes))
  step_fn, state = _compile(spec, mesh, state, config, data_shape)
  wd.write_config(config)  # from here on the workdir holds this run
  if classes:
    wd.write_classes(classes)
  recorder_type = _PopulationRecorder if population else _Recorder
  with StopRequest() as stop, recorder_type(config, spec, wd, iterator, start,
                                            classes) as recorder, contextlib.closing(iterator):
    for step in range(start + 1, config.train.num_steps + 1):
      state, metrics = step_fn(state, mesh_lib.global_batch(next(iterator), mesh))
      recorder.after_step(step, state, metrics)
      if stop.signal_name is not None:
        recorder.stop(step, state, stop.signal_name)
        break
  return mesh_lib.to_host(state)


def build(config, classes: tuple[str, ...] | None = None):
  """(data_shape, spec, abstract GANState) of a config (validated here).

  `classes`: a conditional run's class names (classes.json); None reads them from
  the data.
  """
  data_shape = validation.validate(config)
  spec = factory.make_step_spec(config, data_shape, None if classes is None else len(classes))
  return data_shape, spec, _abstract_state(config, spec, data_shape)


def _data_class_names(config) -> tuple[str, ...]:
  try:
    return tuple(data_lib.class_names(config.dataset))
  except ValueError as e:  # a dataset not prepared
    raise errors.DataError(str(e)) from None


def _training_classes(config, wd) -> tuple[str, ...]:
  """A conditional run's class names, from the data (() if unconditional).

  Raises WorkdirError before anything is written if the run in `wd` was trained
  on other classes.
  """
  if config.model.conditional == "none":
    return ()
  names = _data_class_names(config)
  old = wd.read_classes()
  if old is not None and old != names and wd.holds_run():
    raise errors.WorkdirError(
        f"{wd.classes_path} names the run's classes {list(old)}, but the data now has "
        f"{list(names)}; label k would change meaning. Use a new --workdir, or restore "
        f"the data's classes")
  return names


def run_classes(config, workdir: str) -> tuple[str, ...]:
  """The class names of the run in `workdir`: its classes.json, else the data's; ()
  for an unconditional run."""
  if config.model.conditional == "none":
    return ()
  names = workdir_lib.Workdir(workdir).read_classes()
  return names if names is not None else _data_class_names(config)


def _abstract_state(config, spec, data_shape):
  if population_lib.is_population(config):
    return population_lib.abstract_state(config, spec, data_shape)
  return jax.eval_shape(functools.partial(train_lib.init_state, spec, sample_shape=data_shape),
                        rng_lib.run_key(config.seed))


def _restore_or_init(config, spec, data_shape, wd):
  """(step, host state, data position): the newest good checkpoint, or a new run."""
  if wd.holds_run():
    ckpt = checkpoint_lib.Checkpointer(wd.checkpoints, max_to_keep=config.log.max_checkpoints)
    try:
      restored = ckpt.restore_latest_good(_abstract_state(config, spec, data_shape))
    finally:
      ckpt.close()
    if restored is not None:
      logger.info("resumed from step %d (%s)", restored[0], wd.checkpoints)
      if population_lib.is_population(config):
        # The config's values are the run's, as spec.hparams are a single run's.
        step, state, position = restored
        restored = step, population_lib.with_config_hparams(state, config), position
      return restored
  if population_lib.is_population(config):
    return 0, population_lib.init_state(config, spec, data_shape), 0
  return 0, train_lib.init_state(spec, rng_lib.run_key(config.seed), data_shape), 0


def _num_params(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _log_start(config, spec, state, data_shape, start, mesh) -> None:
  if isinstance(state, population_lib.PopulationState):
    grid = population_lib.swept(config)
    logger.info(
        "population of %d members: seeds %d-%d%s; method %s; members over %d device "
        "group(s) along \"population\", the batch over %d along \"data\"",
        population_lib.num_members(config), config.seed,
        config.seed + config.population.size - 1,
        "".join(f" x {k} {', '.join(f'{v:g}' for v in vals)}" for k, vals in grid.items()),
        population_lib.resolve_method(config), mesh.shape[mesh_lib.POPULATION],
        mesh.shape[mesh_lib.DATA])
    state = population_lib.member_state(state, 0)  # sizes below are per member
  shape = "x".join(map(str, data_shape))
  logger.info(
      "%s: %s/%s on %s (%s), %s generator %s params, critic %s params; batch %d, "
      "n_critic %d (loop unroll %d); steps %d-%d on %d device(s) (%s)",
      "training", config.loss.name, config.penalty.name, config.dataset.name,
      f"{shape}, {data_shape[-1]} channel(s)" if len(data_shape) == 3 else "2-D points",
      config.model.arch, f"{_num_params(state.generator_params):,}",
      f"{_num_params(state.critic_params):,}", config.train.batch_size,
      config.train.n_critic, spec.unroll, start + 1, config.train.num_steps,
      mesh.size, jax.default_backend())


def _open_data(config, position, *, with_labels: bool = False):
  t0 = time.monotonic()
  try:
    if population_lib.is_population(config):
      seeds = [m.seed for m in population_lib.members(config)]
      iterator = population_lib.PopulationIterator(data_lib.make_iterators(
          config.dataset, global_batch_size=config.train.batch_size,
          n_critic=config.train.n_critic, seeds=sorted(set(seeds)), position=position), seeds)
    else:
      iterator = data_lib.make_iterator(
          config.dataset, global_batch_size=config.train.batch_size,
          n_critic=config.train.n_critic, seed=config.seed, position=position,
          process_index=jax.process_index(), process_count=jax.process_count(),
          with_labels=with_labels)
  except errors.UserError:
    raise
  except ValueError as e:  # a dataset not prepared, an empty or broken folder
    raise errors.DataError(str(e)) from None
  logger.info("data %s open (%.1fs)", config.dataset.name, time.monotonic() - t0)
  return iterator


def _compile(spec, mesh, state, config, data_shape):
  """(compiled step, state on the mesh); logs how long compilation took."""
  t0 = time.monotonic()
  state = mesh_lib.put_state(state, mesh)
  population = population_lib.is_population(config)
  members = (population_lib.num_members(config),) if population else ()
  batch = jax.ShapeDtypeStruct(
      (*members, config.train.n_critic, config.train.batch_size, *data_shape), jnp.float32,
      sharding=mesh_lib.batch_sharding(mesh))
  if spec.num_classes:
    batch = (batch, jax.ShapeDtypeStruct((config.train.n_critic, config.train.batch_size),
                                         jnp.int32, sharding=mesh_lib.batch_sharding(mesh)))
  if population:
    step_fn = mesh_lib.compile_step(spec, mesh, state, batch,
                                    step_fn=population_lib.step_fn(config))
  else:
    step_fn = mesh_lib.compile_step(spec, mesh, state, batch)
  logger.info("train step compiled (%.1fs)", time.monotonic() - t0)
  return step_fn, state


@jax.jit
def _all_finite(tree):
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


class _Recorder:
  """Everything between two steps: metrics (one step late), progress lines,
  checkpoints, sample grids and evaluations. Only process 0 writes files."""

  def __init__(self, config, spec, wd, iterator, start, classes=()):
    self.config, self.spec, self.wd, self.iterator = config, spec, wd, iterator
    self.classes = classes  # a conditional run's class names
    self.num_steps = config.train.num_steps
    self.lead = jax.process_index() == 0
    self.ckpt = checkpoint_lib.Checkpointer(wd.checkpoints,
                                            max_to_keep=config.log.max_checkpoints)
    self.last_saved = self.ckpt.latest_step()
    self.log = summary_lib.RunLog(wd.path, start) if self.lead else None
    every = config.log.eval_every
    evals = [s for s in range(start + 1, self.num_steps + 1)
             if every and (s % every == 0 or s == self.num_steps)]
    self.progress = progress_lib.Progress(start, self.num_steps, evaluations_left=len(evals),
                                          fields=progress_lib.fields(config))
    self.evaluator = None
    self.pending = None  # (step, device metrics) not fetched yet
    self._host = None  # (step, host state): one device->host copy per step at most

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.ckpt.close()
    if self.log is not None:
      self.log.close()
    return False

  def after_step(self, step, state, metrics) -> None:
    self.flush()
    self.pending = (step, metrics)
    log = self.config.log
    last = step == self.num_steps
    if step % log.checkpoint_every == 0 or last:
      self.save(step, state)
    if step % log.sample_every == 0 or last:
      self.samples(step, state)
    if log.eval_every and (step % log.eval_every == 0 or last):
      self.evaluate(step, state)
    if last:
      self.flush()
      logger.info("done: step %d; checkpoints in %s", step, self.wd.checkpoints)

  def flush(self) -> None:
    """Fetches the pending step's metrics: stops on a non-finite one, logs them."""
    if self.pending is None:
      return
    step, metrics = self.pending
    self.pending = None
    metrics = jax.device_get(metrics)
    bad = sorted(k for k, v in metrics.items() if not math.isfinite(float(v)))
    if bad:
      raise errors.NonFiniteError(
          f"non-finite {', '.join(bad)} at step {step} "
          f"({', '.join(f'{k}={float(metrics[k])}' for k in bad)}); stopped without "
          f"saving; {self._last_good()}")
    log_step = step % self.config.log.every == 0 or step == self.num_steps
    if self.log is not None and log_step:
      rate = self.progress.steps_per_second
      perf = {"perf/steps_per_second": rate} if math.isfinite(rate) else {}
      self.log.scalars(step, dict(metrics, **perf))
    if self.lead and self.progress.due(step, log_step):
      logger.info(self.progress.line(step, metrics))

  def _last_good(self) -> str:
    if self.last_saved is None:
      return "no checkpoint was saved yet"
    return f"last good checkpoint: step {self.last_saved} in {self.wd.checkpoints}"

  def host_state(self, step, state):
    if self._host is None or self._host[0] != step:
      self._host = (step, mesh_lib.to_host(state))
    return self._host[1]

  def save(self, step, state) -> None:
    self.flush()  # this step's metrics must be finite before its state may be saved
    with self.progress.paused():
      # Metrics are computed before a step's updates: the new state must be finite too.
      if not bool(_all_finite(state)):
        raise errors.NonFiniteError(
            f"non-finite parameters or optimizer state after step {step}; stopped "
            f"without saving; {self._last_good()}")
      self.ckpt.save(step, self.host_state(step, state), data_position=self.iterator.position,
                     config_json=config_io.to_json(self.config))
      self.last_saved = step

  def samples(self, step, state) -> None:
    if not self.lead:
      return
    with self.progress.paused():
      written = sample_lib.write_generators(self.spec, self.host_state(step, state),
                                            self.config, self.wd.samples, step,
                                            class_names=self.classes)
      for label, paths in written.items():
        self.log.image(step, f"samples/{label}", paths["png"])

  def evaluate(self, step, state) -> None:
    self.flush()  # the loss plot wants this step's line
    if not self.lead:
      return
    with self.progress.paused():
      t0 = time.monotonic()
      if self.evaluator is None:
        self.evaluator = evaluate_lib.Evaluator(self.config, self.spec, self.wd.path,
                                                class_names=self.classes)
      setup = self.evaluator.setup_seconds
      result = self.evaluator(self.host_state(step, state), step)
      self.log.scalars(step, evaluate_lib.flat_scalars(result))
      seconds = time.monotonic() - t0
      self.progress.evaluation_done(seconds - (self.evaluator.setup_seconds - setup))
    logger.info("eval at step %d (%.1fs): %s; %s", step, seconds,
                evaluate_lib.summary_line(result), result["path"])

  def stop(self, step, state, signal_name) -> None:
    self.flush()
    if self.last_saved != step:
      self.save(step, state)
    self.ckpt.wait_until_finished()
    logger.info("stopped by %s at step %d: saved checkpoint step %d in %s; run the same "
                "command to resume", signal_name, step, step, self.wd.checkpoints)


class _PopulationRecorder(_Recorder):
  """_Recorder for a population: a record per member and one over the members.

  metrics.jsonl gets {"step", "member": i, ...} per member (TensorBoard
  member_i/...) and {"step", "summary": "population", "members": n, KEY/mean,
  KEY/std, KEY/ci95} over the n members still training (population/...). A
  member that diverges is reported once; from then on its records carry only
  "diverged_at", and its grids and evaluations stop (its state stays frozen at
  the last finite one, and is still checkpointed). If every member diverges the
  run stops as a single run does.
  """

  def __init__(self, config, spec, wd, iterator, start, classes=()):
    super().__init__(config, spec, wd, iterator, start, classes)
    self.members = population_lib.members(config)
    self.groups = population_lib.groups(config)
    self.diverged = {}  # member index -> the step it diverged at
    self.evaluators = None

  def training(self) -> list[int]:
    return [m.index for m in self.members if m.index not in self.diverged]

  def flush(self) -> None:
    if self.pending is None:
      return
    step, metrics = self.pending
    self.pending = None
    metrics = {k: np.asarray(v) for k, v in jax.device_get(metrics).items()}
    diverged_at = metrics.pop("population/diverged_at")
    for i in np.flatnonzero(diverged_at):
      if int(i) not in self.diverged:
        self._report_divergence(int(i), int(diverged_at[i]), metrics)
    training = self.training()
    if not training:
      raise errors.NonFiniteError(
          "every member diverged (" + ", ".join(
              f"member {i} at step {d}" for i, d in sorted(self.diverged.items()))
          + f"); stopped; {self._last_good()}")
    log_step = step % self.config.log.every == 0 or step == self.num_steps
    if self.log is not None and log_step:
      for m in self.members:
        if m.index in self.diverged:
          self.log.metrics.write(step, {}, member=m.index, diverged_at=self.diverged[m.index])
        else:
          self.log.scalars(step, {k: v[m.index] for k, v in metrics.items()},
                           tag_prefix=f"member_{m.index}/", member=m.index)
      rate = self.progress.steps_per_second
      for g, group in enumerate(self.groups):
        used = [i for i in group.members if i not in self.diverged]
        summary = {}
        for key, values in metrics.items():
          stats = population_lib.summarize(values[used]) if used else {}
          summary.update({f"{key}/{s}": stats[s] for s in ("mean", "std", "ci95")
                          if stats.get(s) is not None})
        if g == 0:
          summary["perf/steps_per_second"] = rate
          summary["perf/member_steps_per_second"] = rate * len(training)
        values = dict(group.values)
        self.log.scalars(step, summary, tag_prefix=population_lib.summary_tag(values),
                         **population_lib.summary_fields(values, len(used)))
    if self.lead and self.progress.due(step, log_step):
      means = {k: float(np.mean(v[training])) for k, v in metrics.items()}
      logger.info(self.progress.line(step, means) + f" | means over {len(training)} of "
                  f"{len(self.members)} members")

  def _report_divergence(self, index, at, metrics) -> None:
    """Logs that member `index` diverged at step `at` (once) and marks it."""
    self.diverged[index] = at
    bad = sorted(k for k, v in metrics.items() if not math.isfinite(float(v[index])))
    what = (f"non-finite {', '.join(bad)}" if bad
            else "non-finite parameters or optimizer state")
    logger.warning(
        "WARNING: %s diverged at step %d (%s); it stays frozen at its step-%d state and "
        "leaves the population's summaries; %d member(s) train on",
        self.members[index].describe(), at, what, at - 1,
        len(self.members) - len(self.diverged))

  def samples(self, step, state) -> None:
    self.flush()  # grids only of the members still training
    if not self.lead:
      return
    with self.progress.paused():
      frozen = ", ".join(f"member {i} frozen at step {d - 1}"
                         for i, d in sorted(self.diverged.items()))
      written = sample_lib.write_population(
          self.spec, self.host_state(step, state), self.config, self.wd.samples, step,
          members=self.training(), note=frozen)
      for i in self.training():
        for label, paths in written[i].items():
          self.log.image(step, f"member_{i}/samples/{label}", paths["png"])
      self.log.image(step, "population/samples", written["members"])

  def evaluate(self, step, state) -> None:
    self.flush()
    if not self.lead:
      return
    with self.progress.paused():
      t0 = time.monotonic()
      if self.evaluators is None:
        self.evaluators = member_evaluators(self.config, self.spec, self.wd)
      setup = sum(e.setup_seconds for e in self.evaluators.values())
      host = self.host_state(step, state)
      results = {}
      for i in self.training():
        results[i] = self.evaluators[i](population_lib.member_state(host, i), step)
        self.log.scalars(step, evaluate_lib.flat_scalars(results[i]),
                         tag_prefix=f"member_{i}/", member=i)
      result = population_evaluation(self.config, self.wd, step, results, self.diverged)
      for fields, scalars in evaluate_lib.population_scalars(result):
        self.log.scalars(step, scalars, tag_prefix=population_lib.summary_tag(
            fields.get("sweep", {})), **fields)
      seconds = time.monotonic() - t0
      setup = sum(e.setup_seconds for e in self.evaluators.values()) - setup
      self.progress.evaluation_done(seconds - setup)
    logger.info("eval at step %d (%.1fs): %s; %s", step, seconds,
                evaluate_lib.population_summary_line(result), result["path"])


def member_evaluators(config, spec, wd) -> dict:
  """{member index: Evaluator} of a population, sharing one classifier set-up."""
  evaluators = {}
  for m in population_lib.members(config):
    evaluators[m.index] = evaluate_lib.Evaluator(
        population_lib.member_config(config, m.index), spec, wd.path, member=m,
        share=evaluators.get(0))
  return evaluators


def population_evaluation(config, wd, step, results, diverged) -> dict:
  """Summarises members' evaluations into WORKDIR/eval/step_N.json; returns it."""
  metric = config.population.best_metric
  result = evaluate_lib.population_result(
      step, results, population_lib.members(config), population_lib.groups(config),
      diverged, metric)
  if results and all(best is None for best in result["best"].values()):
    known = sorted({k for r in results.values() for v in r["generators"].values() for k in v})
    logger.warning("WARNING: population.best_metric %r is not among this evaluation's "
                   "numbers (%s); no best member named", metric, ", ".join(known))
  result["path"] = evaluate_lib.write_result(
      result, os.path.join(wd.eval, f"step_{step:06d}.json"))
  return result


class StopRequest:
  """The first SIGTERM / SIGINT asks the loop to save the current step and stop.

  It is acknowledged at once (even during an evaluation, which then finishes);
  a second one stops immediately without saving (KeyboardInterrupt). Handlers are
  installed only in the main thread and restored on exit.
  """

  def __init__(self):
    self.signal_name = None
    self._previous = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGTERM, signal.SIGINT):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if self.signal_name is not None:
      raise KeyboardInterrupt
    self.signal_name = signal.Signals(signum).name
    logger.info("received %s: saving a checkpoint and stopping after the current step "
                "(send it again to stop at once, without saving)", self.signal_name)

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False


# --- Restoring a checkpoint ---------------------------------------------------------
