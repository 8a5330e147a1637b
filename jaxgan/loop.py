"""The training loop and the restore-and-sample entry, as library functions.

`train_and_evaluate(config, workdir)` validates the config, resumes from the
newest checkpoint in WORKDIR/checkpoints when there is one, runs the compiled
step, evaluates every `log.eval_every` steps, and leaves the workdir described in
DESIGN.md. Metrics are fetched one step late so the host never stalls the device;
a non-finite metric stops the run naming the step and the quantity, before
anything is saved over a good checkpoint. `sample_from_checkpoint` and
`evaluate_from_checkpoint` restore a step and draw samples / evaluate it.
"""

from __future__ import annotations

import functools
import json
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
from jaxgan import data as data_lib
from jaxgan import evaluate as evaluate_lib
from jaxgan import factory
from jaxgan import parallel as parallel_lib
from jaxgan import rng as rng_lib
from jaxgan import sample as sample_lib
from jaxgan import summary as summary_lib
from jaxgan import train as train_lib
from jaxgan.data import toy as toy_data


logger = logging.getLogger("jaxgan")


class NonFiniteError(FloatingPointError):
  """A loss or gradient norm became NaN or infinite."""


# --- Workdir helpers ------------------------------------------------------------


def config_to_json(config) -> dict:
  """The resolved config as plain JSON (tuples become lists)."""
  return json.loads(config.to_json())


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(workdir, "checkpoints")


def _format_duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


@jax.jit
def _all_finite(tree):
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def _check_finite(step: int, metrics: dict, last_good: int | None, ckpt_dir: str) -> None:
  bad = sorted(k for k, v in metrics.items() if not math.isfinite(float(v)))
  if bad:
    where = (f"last good checkpoint: step {last_good} in {ckpt_dir}" if last_good is not None
             else "no checkpoint was saved yet")
    raise NonFiniteError(
        f"non-finite {', '.join(bad)} at step {step} "
        f"({', '.join(f'{k}={float(metrics[k])}' for k in bad)}); stopped without "
        f"saving; {where}")


def _flatten(tree: dict, prefix: str = "") -> dict:
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


# Keys a resumed run may change without changing what it is: its length, logging and
# evaluation settings (which also lets a workdir from before a new eval.* key existed
# be resumed and evaluated), and the critic loop's unroll factor (how the same
# updates are compiled).
_RESUMABLE_CHANGES = ("train.num_steps", "train.critic_unroll", "log.", "eval.")


def check_workdir_config(config, workdir: str, *, allow_change: bool = False) -> None:
  """Refuses a workdir whose config.json differs from `config` in a key that matters.

  Raises factory.ConfigError listing the differing keys (old -> new). Changing
  train.num_steps (to extend a run), train.critic_unroll, log.* and eval.* is
  always allowed.

  A key the old config.json does not have at all was added to jaxgan after the
  run was made; by this project's rule a new key's default reproduces the
  behaviour from before it existed, so the run continues with a warning naming
  the keys (a checkpoint from months ago still samples and evaluates).
  """
  path = os.path.join(workdir, "config.json")
  if allow_change or not os.path.exists(path):
    return
  with open(path) as f:
    old = _flatten(json.load(f))
  new = _flatten(config_to_json(config))
  added = sorted(k for k in set(new) - set(old) if not k.startswith(_RESUMABLE_CHANGES))
  if added:
    logger.warning("WARNING: %s predates config keys %s; using their values %s", path,
                   ", ".join(added), ", ".join(f"{k}={new[k]!r}" for k in added))
  changed = [k for k in sorted(old) if k not in new or (
      old[k] != new[k] and not k.startswith(_RESUMABLE_CHANGES))]
  if changed:
    diffs = [f"{k}: {old[k]!r} -> {new.get(k, '<missing>')!r}" for k in changed]
    # A run made under older defaults (e.g. before the toy recipes' linear schedule)
    # is still reachable: say which flags bring back its values.
    keep = [f"--config.{k}={old[k]}" for k in changed
            if k in new and isinstance(old[k], (str, int, float, bool))]
    raise factory.ConfigError(
        f"workdir {os.path.abspath(workdir)} holds a run with a different config "
        f"({'; '.join(diffs)}); use a new --workdir, "
        + (f"pass the run's values ({' '.join(keep)}), " if keep else "")
        + "or pass --allow_config_change to continue this run with the new values")
  if (old.get("train.num_steps") != new.get("train.num_steps")
      and "linear" in (new.get("optimizer.critic.schedule"),
                       new.get("optimizer.generator.schedule"))):
    logger.warning(
        "WARNING: train.num_steps %s -> %s with a linear learning-rate schedule: the "
        "decay is re-sized to the new length, so the learning rate jumps at the "
        "resumed step", old.get("train.num_steps"), new.get("train.num_steps"))


class StopRequest:
  """Turns SIGTERM / SIGINT into a request the loop honours at the next step.

  The loop then checkpoints the step it has and returns normally (exit 0), so a
  preempted or Ctrl-C'd run loses nothing. Handlers are installed only in the
  main thread and restored on exit.
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
    self.signal_name = signal.Signals(signum).name

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False


# --- Training -------------------------------------------------------------------


def build(config, *, axis_name: str | None = None):
  """Validates `config`; returns (data_shape, spec, abstract GANState)."""
  data_shape = factory.validate(config)
  spec = factory.make_step_spec(config, data_shape, axis_name=axis_name)
  abstract = jax.eval_shape(
      functools.partial(train_lib.init_state, spec, sample_shape=data_shape),
      rng_lib.run_key(config.seed))
  return data_shape, spec, abstract


def _write_config(config, workdir: str) -> None:
  path = os.path.join(workdir, "config.json")
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(config_to_json(config), f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def train_and_evaluate(config, workdir: str, *,
                       allow_config_change: bool = False) -> train_lib.GANState:
  """Trains (or resumes) the run in `workdir`; returns the final state.

  Resumes from the newest readable checkpoint (an unreadable newer one is set
  aside with a warning). SIGTERM / SIGINT checkpoint the current step and
  return early.
  """
  parallel = parallel_lib.is_parallel()
  # Raises ConfigError before any work.
  data_shape, spec, abstract = build(config, axis_name=parallel_lib.AXIS if parallel else None)
  try:
    parallel_lib.check_global_batch(config.train.batch_size)
  except ValueError as e:
    raise factory.ConfigError(str(e)) from None
  check_workdir_config(config, workdir, allow_change=allow_config_change)
  is_lead = jax.process_index() == 0
  os.makedirs(workdir, exist_ok=True)
  if is_lead:
    _write_config(config, workdir)

  ckpt = checkpoint_lib.Checkpointer(checkpoint_dir(workdir),
                                     max_to_keep=config.log.max_checkpoints)
  restored = ckpt.restore_latest_good(abstract)
  if restored is not None:
    start, state, position = restored
    logger.info("resumed from step %d (%s)", start, ckpt.directory)
  else:
    state = train_lib.init_state(spec, rng_lib.run_key(config.seed), data_shape)
    start, position = 0, 0
  last_saved = ckpt.latest_step()

  try:
    iterator = data_lib.make_iterator(
        config.dataset, global_batch_size=config.train.batch_size,
        n_critic=config.train.n_critic, seed=config.seed, position=position,
        num_local_devices=jax.local_device_count() if parallel else None,
        process_index=jax.process_index(), process_count=jax.process_count())
  except ValueError as e:  # dataset not prepared, bad folder, indivisible batch
    ckpt.close()
    raise factory.ConfigError(str(e)) from None
  step_fn = parallel_lib.compile_step(spec)
  eval_spec = factory.make_step_spec(config, data_shape) if parallel else spec
  if parallel:
    state = parallel_lib.replicate(state)
  # The host-side view of the state (for checkpoints and samples): one replica.
  host_state = parallel_lib.unreplicate if parallel else (lambda s: s)
  host_metrics = (lambda m: jax.tree.map(lambda x: x[0], m)) if parallel else (lambda m: m)

  toy = len(data_shape) == 1
  z_fixed = sample_lib.fixed_latents(config.seed, config.log.num_samples, config.model.z_dim)
  real_ref = toy_data.sample(config.dataset.name, np.random.default_rng(config.seed),
                                 config.log.num_samples * 10) if toy else None
  log = summary_lib.RunLog(workdir, start) if is_lead else None
  evaluator = None
  samples_dir = os.path.join(workdir, "samples")
  json_config = config_to_json(config)
  num_steps = config.train.num_steps

  def save(step, state):
    nonlocal last_saved
    # Metrics are computed before a step's updates; the updated state itself must
    # be finite too before it may replace a good checkpoint.
    state = host_state(state)
    if not bool(_all_finite(state)):
      raise NonFiniteError(
          f"non-finite parameters or optimizer state after step {step}; stopped without "
          f"saving; last good checkpoint: step {last_saved} in {ckpt.directory}")
    ckpt.save(step, state, data_position=iterator.position, config_json=json_config)
    last_saved = step

  def write_samples(step, state):
    if not is_lead:
      return
    state = host_state(state)
    for label, use_ema in evaluate_lib.generators(config):
      out = sample_lib.generate_samples(spec, state, z_fixed, use_ema=use_ema)
      paths = sample_lib.write_samples(out, samples_dir, step, real=real_ref,
                                       suffix="" if label == "raw" else f"_{label}")
      log.image(step, f"samples/{label}", paths["png"])

  def run_eval(step, state):
    nonlocal evaluator
    if not is_lead:
      return
    if evaluator is None:
      # Single-device spec: evaluation runs on this host's first device.
      evaluator = evaluate_lib.Evaluator(config, eval_spec, workdir)
    t0 = time.time()
    result = evaluator(host_state(state), step)
    scalars = evaluate_lib.flat_scalars(result)
    log.scalars(step, scalars)
    logger.info("eval at step %d (%.1fs): %s; %s", step, time.time() - t0,
                evaluate_lib.summary_line(result), result["path"])

  logger.info("training %s/%s for %d steps from step %d (data %s, batch %d, n_critic %d, "
               "unroll %d) on %s", config.loss.name, config.penalty.name, num_steps, start,
               config.dataset.name, config.train.batch_size, config.train.n_critic,
               spec.unroll, jax.devices())
  pending = None  # (step, device metrics) fetched one step late
  t_start, step_start = time.time(), start
  t_compile = None
  def handle(pending):
    _handle_metrics(pending, log, config, num_steps, t_start, step_start, last_saved,
                    ckpt.directory)

  with StopRequest() as stop:
    try:
      for step in range(start + 1, num_steps + 1):
        real = next(iterator)
        state, metrics = step_fn(state, real)
        if t_compile is None:
          jax.block_until_ready(metrics)
          t_compile = time.time() - t_start
          logger.info("first step (incl. compilation) took %.1fs", t_compile)
          t_start, step_start = time.time(), step
        if pending is not None:
          handle(pending)
        pending = (step, host_metrics(metrics))

        if step % config.log.checkpoint_every == 0 or step == num_steps:
          # Check this step's metrics before a save can replace a good checkpoint.
          handle(pending)
          pending = None
          save(step, state)
        if step % config.log.sample_every == 0 or step == num_steps:
          write_samples(step, state)
        if config.log.eval_every and (step % config.log.eval_every == 0 or
                                      step == num_steps):
          if pending is not None:  # the loss plot wants this step's line
            handle(pending)
            pending = None
          run_eval(step, state)
        if stop.signal_name is not None:
          if pending is not None:
            handle(pending)
            pending = None
          if last_saved != step:
            save(step, state)
          ckpt.wait_until_finished()
          logger.info("received %s at step %d: saved checkpoint step %d in %s; run the "
                      "same command to resume", stop.signal_name, step, step, ckpt.directory)
          break
      if pending is not None:
        handle(pending)
    finally:
      ckpt.close()
      if log is not None:
        log.close()
  if stop.signal_name is None:
    logger.info("done: %d steps in %s; checkpoints in %s", num_steps - start,
                _format_duration(time.time() - t_start), ckpt.directory)
  return host_state(state)


def _handle_metrics(pending, log, config, num_steps, t_start, step_start, last_saved,
                    ckpt_dir):
  """Fetches one step's metrics, stops on a non-finite value, logs every log.every."""
  step, metrics = pending
  metrics = jax.device_get(metrics)
  _check_finite(step, metrics, last_saved, ckpt_dir)
  if step % config.log.every and step != num_steps:
    return
  elapsed = time.time() - t_start
  rate = (step - step_start) / elapsed if elapsed > 0 and step > step_start else float("nan")
  eta = (num_steps - step) / rate if rate == rate and rate > 0 else float("nan")
  if log is not None:
    log.scalars(step, dict(metrics, **{"perf/steps_per_second": rate}))
    logger.info("step %d/%d | %.2f steps/s | ETA %s | critic/loss %.4f | penalty %.4f | "
                 "W-est %.4f | generator/loss %.4f", step, num_steps, rate,
                 _format_duration(eta) if eta == eta else "?", metrics["critic/loss"],
                 metrics["critic/penalty"], metrics["critic/wasserstein_estimate"],
                 metrics["generator/loss"])


# --- Sampling from a checkpoint ----------------------------------------------------


def _restore(config, workdir: str, step: int | None, allow_config_change: bool):
  """(spec, data_shape, step, state) of a checkpoint in WORKDIR/checkpoints.

  Raises checkpoint.NoCheckpointError naming the directory when there is nothing
  to restore; opens the checkpoints read-only (never writes to checkpoints/).
  """
  data_shape, spec, abstract = build(config)
  check_workdir_config(config, workdir, allow_change=allow_config_change)
  directory = checkpoint_dir(workdir)
  if not os.path.isdir(directory):
    raise checkpoint_lib.NoCheckpointError(
        f"no checkpoint in {os.path.abspath(directory)} (directory does not exist); "
        f"train first with --mode=train")
  ckpt = checkpoint_lib.Checkpointer(directory, read_only=True)
  try:
    step, state, _ = ckpt.restore(abstract, step)
  finally:
    ckpt.close()
  return spec, data_shape, step, state


def sample_from_checkpoint(config, workdir: str, step: int | None = None, *,
                           allow_config_change: bool = False) -> dict:
  """Restores `step` (default: latest) from WORKDIR/checkpoints and writes samples.

  Writes WORKDIR/samples/step_N.{png,npy} (and _ema versions when the EMA is
  enabled). Raises checkpoint.NoCheckpointError naming the directory when there
  is nothing to restore; never writes to checkpoints/.
  """
  spec, data_shape, step, state = _restore(config, workdir, step, allow_config_change)
  z = sample_lib.fixed_latents(config.seed, config.log.num_samples, config.model.z_dim)
  real = None
  if len(data_shape) == 1:
    real = toy_data.sample(config.dataset.name, np.random.default_rng(config.seed),
                               config.log.num_samples * 10)
  out_dir = os.path.join(workdir, "samples")
  paths = sample_lib.write_samples(sample_lib.generate_samples(spec, state, z), out_dir,
                                   step, real=real)
  paths["step"] = step
  if config.ema.enabled:
    paths["ema"] = sample_lib.write_samples(
        sample_lib.generate_samples(spec, state, z, use_ema=True), out_dir, step, real=real,
        suffix="_ema")
  return paths


def evaluate_from_checkpoint(config, workdir: str, step: int | None = None, *,
                             allow_config_change: bool = False) -> dict:
  """Restores `step` (default: latest) and evaluates it.

  Writes WORKDIR/eval/step_N.json and the plots (jaxgan/evaluate.py); returns the
  result dict (its "path" is the JSON file). Never writes to checkpoints/.
  """
  spec, _, step, state = _restore(config, workdir, step, allow_config_change)
  return evaluate_lib.Evaluator(config, spec, workdir)(state, step)
