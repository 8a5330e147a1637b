"""The training loop (restoring a finished run to sample or evaluate it: restore.py).

`train_and_evaluate(config, workdir)` sets the run up (jaxgan/runs.py), checks
the workdir, restores the newest good checkpoint (or initialises), opens the data
and compiles the step, and only then writes into the workdir (a run that never
started leaves nothing behind), including a conditional run's classes.json. Each
step's metrics are fetched one step late, so the host never stalls the device; a
non-finite one stops the run naming the step and the quantity before anything is
saved over a good checkpoint. SIGTERM / SIGINT save the current step and end the
run normally; in a multi-process job, sent to any process, they make every process
save the same step (jaxgan/cluster.py's StopVote).

The recorder writes records, grids and evaluations member by member. A
population's member that diverges is frozen by its step and reported once; its
records then carry only "diverged_at", and with no member left the run stops.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import cluster
from jaxgan import config_io
from jaxgan import errors
from jaxgan import interrupt
from jaxgan import mesh as mesh_lib
from jaxgan import progress as progress_lib
from jaxgan import runs as runs_lib
from jaxgan import summary as summary_lib
from jaxgan import train as train_lib
from jaxgan import workdir as workdir_lib

logger = logging.getLogger("jaxgan")


def train_and_evaluate(config, workdir: str, *,
                       allow_config_change: bool = False) -> train_lib.GANState:
  """Trains (or resumes) the run in `workdir`; returns the final state on the host.

  Raises errors.UserError subclasses for a bad config, workdir or data, and
  errors.NonFiniteError when training diverges."""
  wd = workdir_lib.Workdir(workdir)
  cluster.note_checkpoints(wd.checkpoints)  # named if a process of the job is lost
  run = runs_lib.setup(config)
  wd.check_writable()
  wd.check_config(config, allow_change=allow_config_change)
  wd.check_classes(run.classes)
  start, state, position = run.restore_or_init(wd.checkpoints)
  if start >= config.train.num_steps:
    logger.info("the run in %s is complete (step %d of train.num_steps=%d); raise "
                "train.num_steps to train on", wd.path, start, config.train.num_steps)
    return state
  run.log_start(state, start)
  logger.info("opening the data and compiling the train step")  # no silent start-up
  t0 = time.monotonic()
  iterator = run.open_data(position)
  logger.info("data %s open (%.1fs)", config.dataset.name, time.monotonic() - t0)
  t0 = time.monotonic()
  step_fn, state = run.compile(state)
  logger.info("train step compiled (%.1fs)", time.monotonic() - t0)
  wd.write_config(config)  # from here on the workdir holds this run
  if run.classes:
    wd.write_classes(run.classes)
  vote = cluster.StopVote()  # every process of a job stops at the same step
  with cluster.watching(), StopRequest(vote.steps_late) as stop, \
       _Recorder(run, wd, iterator, start) as recorder, contextlib.closing(iterator):
    stop.progress = recorder.progress  # the pace its acknowledgement states
    for step in range(start + 1, config.train.num_steps + 1):
      state, metrics = step_fn(state, run.global_batch(next(iterator)))
      recorder.after_step(step, state, metrics)
      agreed = vote(stop.signal_name)
      if agreed is not None:
        recorder.stop(step, state, agreed if stop.signal_name else
                      f"{agreed} (sent to another process of the job)")
        break
  return mesh_lib.to_host(state)


@jax.jit
def _all_finite(tree):
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


class _Recorder:
  """Everything between two steps: metrics (one step late), progress lines,
  checkpoints, sample grids and evaluations, member by member. Only process 0
  writes files."""

  def __init__(self, run: runs_lib.Setup, wd, iterator, start):
    self.config, self.spec, self.wd, self.iterator = run.config, run.spec, wd, iterator
    self.runs, self.classes = run.runs, run.classes
    self.num_steps = self.config.train.num_steps
    self.lead = jax.process_index() == 0
    self.ckpt = checkpoint_lib.Checkpointer(wd.checkpoints,
                                            max_to_keep=self.config.log.max_checkpoints)
    self.last_saved = self.ckpt.latest_step()
    self.log = summary_lib.RunLog(wd.path, start) if self.lead else None
    every = self.config.log.eval_every
    evals = [s for s in range(start + 1, self.num_steps + 1)
             if every and (s % every == 0 or s == self.num_steps)]
    self.progress = progress_lib.Progress(start, self.num_steps, evaluations_left=len(evals),
                                          fields=progress_lib.fields(self.config))
    self.evaluators = None
    self.diverged = {}  # member index -> the step it diverged at
    self._why = {}  # member index -> (what was non-finite, at which step, the values)
    self.pending = None  # (step, device metrics) not fetched yet
    self._host = None  # (step, host state): one device->host copy per step at most

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.ckpt.close()
    if self.log is not None:
      self.log.close()
    return False

  def training(self) -> list[runs_lib.Member]:
    return [m for m in self.runs.members if m.index not in self.diverged]

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
    """Fetches the pending step's metrics: notes a member that diverged (none
    left: stops), logs them."""
    if self.pending is None:
      return
    step, metrics = self.pending
    self.pending = None
    per_member = self.runs.split_metrics(jax.device_get(metrics), step)
    metrics = [values for values, _ in per_member]
    newly = [m for m, (_, at) in zip(self.runs.members, per_member)
             if at and m.index not in self.diverged]
    for m in newly:
      at = self.diverged[m.index] = per_member[m.index][1]
      bad = sorted(k for k, v in metrics[m.index].items() if not math.isfinite(float(v)))
      self._why[m.index] = (
          f"non-finite {', '.join(bad)}" if bad else "non-finite parameters or optimizer state",
          at, ", ".join(f"{k}={float(metrics[m.index][k])}" for k in bad))
    training = self.training()
    if not training:
      raise errors.NonFiniteError(f"{self.runs.divergence(self._why)}; stopped without "
                                  f"saving; {self._last_good()}")
    for m in newly:
      logger.warning(
          "WARNING: %s diverged at step %d (%s); it stays frozen at its step-%d state and "
          "leaves the population's summaries; %d member(s) train on", m.describe(),
          self.diverged[m.index], self._why[m.index][0], self.diverged[m.index] - 1,
          len(training))
    log_step = step % self.config.log.every == 0 or step == self.num_steps
    if self.log is not None and log_step:
      for values, tag, fields in self.runs.records(metrics, self.diverged,
                                                   self.progress.steps_per_second):
        self.log.scalars(step, values, tag_prefix=tag, **fields)
    if self.lead and self.progress.due(step, log_step):
      means = {k: float(np.mean([metrics[m.index][k] for m in training])) for k in metrics[0]}
      logger.info(self.progress.line(step, means) + self.runs.progress_note(training))

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
    self.flush()  # grids only of the members still training
    if not self.lead:
      return
    with self.progress.paused():
      frozen = ", ".join(f"member {i} frozen at step {d - 1}"
                         for i, d in sorted(self.diverged.items()))
      written, picture = self.runs.write_samples(
          self.spec, self.host_state(step, state), self.wd.samples, step,
          members=self.training(), note=frozen, class_names=self.classes)
      for m in self.training():
        for label, paths in written[m.index].items():
          self.log.image(step, f"{m.tag}samples/{label}", paths["png"])
      if picture is not None:
        self.log.image(step, "population/samples", picture)

  def evaluate(self, step, state) -> None:
    self.flush()  # the loss plot wants this step's line
    if not self.lead:
      return
    with self.progress.paused():
      t0 = time.monotonic()
      if self.evaluators is None:
        self.evaluators = self.runs.evaluators(self.spec, self.wd.path, self.classes)
      setup = sum(e.setup_seconds for e in self.evaluators.values())
      result, (line, _) = self.runs.evaluate(
          self.evaluators, self.host_state(step, state), step, self.training(), self.diverged,
          self.wd.eval, lambda values, tag, fields: self.log.scalars(
              step, values, tag_prefix=tag, **fields))
      seconds = time.monotonic() - t0
      setup = sum(e.setup_seconds for e in self.evaluators.values()) - setup
      self.progress.evaluation_done(seconds - setup)
    logger.info("eval at step %d (%.1fs): %s; %s", step, seconds, line, result["path"])

  def stop(self, step, state, signal_name) -> None:
    self.flush()
    if self.last_saved != step:
      self.save(step, state)
    self.ckpt.wait_until_finished()
    logger.info("stopped by %s at step %d: saved checkpoint step %d in %s; run the same "
                "command to resume", signal_name, step, step, self.wd.checkpoints)


class StopRequest:
  """The first SIGTERM / SIGINT asks the loop to save the current step and stop
  (acknowledged at once; an evaluation under way finishes); a second one stops
  at once without saving (KeyboardInterrupt). Handlers are installed only in the
  main thread and restored on exit."""

  def __init__(self, steps_late: int = 0):
    self.signal_name = None
    self.steps_late = steps_late  # steps until a multi-process job agrees to stop
    self.progress = None  # the run's progress_lib.Progress, once training
    self._previous = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      interrupt.raise_if_swallowed()  # a start-up Ctrl-C: stop before training
      for sig in (signal.SIGTERM, signal.SIGINT):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if self.signal_name is not None:
      raise KeyboardInterrupt
    self.signal_name = signal.Signals(signum).name
    logger.info("received %s: saving a checkpoint and stopping after the %s step "
                "(%ssend it again to stop at once, without saving)", self.signal_name,
                "next" if self.steps_late else "current",
                progress_lib.step_time_note(self.progress))

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False
