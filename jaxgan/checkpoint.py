"""Checkpoints with orbax's CheckpointManager: state + data position + config.

A step directory holds three items:
  state   the GANState pytree (StandardSave)
  data    {"position": steps consumed by the data iterator} (JsonSave)
  config  the resolved config, so a checkpoint read months later is
          self-describing (JsonSave)
Orbax writes each step into a temporary directory and renames it when complete,
so `latest_step()` never returns a half-written step.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time

import jax
import orbax.checkpoint as ocp

from jaxgan import errors

logger = logging.getLogger("jaxgan")

STATE, DATA, CONFIG = "state", "data", "config"


class _ExpectedOrbaxWarnings(logging.Filter):
  """Drops orbax's absl warnings about what jaxgan does on purpose: opening a run
  read-only to sample or evaluate it, and reading a step whose item has no
  _CHECKPOINT_METADATA (older orbax wrote none; a state that truly cannot be read
  is still one CorruptCheckpointError line)."""

  EXPECTED = ("CheckpointManagerOptions.read_only=True", "Given directory is read only",
              "Metadata file does not exist")

  def filter(self, record: logging.LogRecord) -> bool:
    return not str(record.getMessage()).startswith(self.EXPECTED)


logging.getLogger("absl").addFilter(_ExpectedOrbaxWarnings())


def finished_steps(directory: str) -> list[int]:
  """The finished checkpoint steps in `directory`, oldest first (no orbax needed: a
  step directory gets its number only when orbax renames it into place)."""
  if not os.path.isdir(directory):
    return []
  return sorted(int(name) for name in os.listdir(directory)
                if name.isdigit() and os.path.isdir(os.path.join(directory, name)))


def has_steps(directory: str) -> bool:
  """Whether `directory` holds at least one finished checkpoint step (no orbax needed)."""
  return bool(finished_steps(directory))


class Checkpointer:
  """A thin wrapper over ocp.CheckpointManager for one run's checkpoints/ dir."""

  def __init__(self, directory: str, *, max_to_keep: int | None = None,
               read_only: bool = False):
    self.directory = os.path.abspath(directory)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, create=not read_only, read_only=read_only,
        # Never write the same step twice under a different policy decision.
        save_interval_steps=1,
        # Step directories left half-written by a killed process are removed on
        # start-up; orbax never lists them as steps in the first place.
        cleanup_tmp_directories=not read_only)
    self._manager = ocp.CheckpointManager(
        self.directory, options=options, item_names=(STATE, DATA, CONFIG))

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state, *, data_position: int, config_json: dict) -> bool:
    """Starts an (asynchronous) save of `step`; returns whether one was started."""
    return self._manager.save(
        int(step),
        args=ocp.args.Composite(**{
            STATE: ocp.args.StandardSave(state),
            DATA: ocp.args.JsonSave({"position": int(data_position)}),
            CONFIG: ocp.args.JsonSave(config_json),
        }),
        force=True)

  def restore(self, abstract_state, step: int | None = None):
    """(step, state, data_position) of `step` (None: the latest).

    Raises errors.NoCheckpointError (no such step), CorruptCheckpointError (it cannot
    be read) or IncompatibleCheckpointError (intact, another structure: `_target`).
    """
    steps = self.all_steps()
    if step is None:
      step = steps[-1] if steps else None
    if step is None or step not in steps:
      available = ", ".join(map(str, steps)) if steps else "none"
      what = "no checkpoint" if step is None else f"no checkpoint for step {step}"
      raise errors.NoCheckpointError(
          f"{what} in {self.directory} (steps available: {available})")
    try:
      saved = self._saved_structure(step)
    except Exception as e:  # orbax/tensorstore raise many types for damaged files
      raise self._corrupt(step, e) from e
    target, empty, rebuilt = self._target(abstract_state, saved, step)
    try:
      restored = self._manager.restore(
          step,
          args=ocp.args.Composite(**{
              STATE: ocp.args.StandardRestore(target),
              DATA: ocp.args.JsonRestore(),
          }))
    except Exception as e:  # pylint: disable=broad-except
      raise self._corrupt(step, e) from e
    state = restored[STATE]
    if dataclasses.is_dataclass(abstract_state):
      kept = {k: v for k, v in state.items() if k not in rebuilt}
      state = type(abstract_state)(**kept, **empty, **rebuilt)
    return step, state, int(restored[DATA]["position"])

  def _corrupt(self, step: int, e: Exception) -> errors.CorruptCheckpointError:
    return errors.CorruptCheckpointError(
        f"checkpoint step {step} in {self.directory} cannot be read ({type(e).__name__}: "
        f"{str(e).splitlines()[0][:200] if str(e) else ''})")

  def _saved_structure(self, step: int):
    """The saved state's tree of array metadata (shape, dtype), read without its arrays."""
    saved = ocp.StandardCheckpointer().metadata(
        os.path.join(self.directory, str(step), STATE)).item_metadata
    if saved is None:  # orbax warns instead of raising when it cannot read it
      raise ValueError("its state metadata cannot be read")
    return saved

  def _target(self, abstract_state, saved, step: int):
    """(what to read, fields restored empty, fields rebuilt by the caller).

    A state dataclass may have grown since the checkpoint was written: a field
    with no arrays for this run (e.g. critic_spectral without spectral norm) that
    the checkpoint lacks is restored empty; the fields its class names in
    REBUILT_ON_RESTORE are read as saved and handed back as placeholders for the
    caller to rebuild from the config (a population's HParams, which gained fields).
    Any other difference (arrays more or fewer, another shape) raises
    IncompatibleCheckpointError: the checkpoint is intact, only not this version's,
    so it is neither set aside nor replaced by a fresh start.
    """
    if not dataclasses.is_dataclass(abstract_state):
      return abstract_state, {}, {}
    fields = {f.name: getattr(abstract_state, f.name) for f in dataclasses.fields(abstract_state)}
    empty = {k: v for k, v in fields.items() if k not in saved and not jax.tree.leaves(v)}
    rebuilt = {k: fields[k] for k in getattr(type(abstract_state), "REBUILT_ON_RESTORE", ())}
    target = {k: v for k, v in fields.items() if k not in empty}
    for name in rebuilt:
      if name in saved:
        target[name] = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype),
                                    saved[name])
      else:
        del target[name]
    for name in sorted(set(saved) | set(target)):
      ours = sorted(tuple(x.shape) for x in jax.tree.leaves(target.get(name, {})))
      theirs = sorted(tuple(x.shape) for x in jax.tree.leaves(saved.get(name, {})))
      if ours != theirs:
        raise errors.IncompatibleCheckpointError(
            f"checkpoint step {step} in {self.directory} holds a state this jaxgan cannot "
            f"read for this config: its field {name!r} has {len(theirs)} arrays there and "
            f"{len(ours)} here{'' if len(ours) != len(theirs) else ' of other shapes'} "
            f"(written by another jaxgan version, or a config change let through by "
            f"--allow_config_change that reshapes the state, e.g. model.width or augment.name?). "
            f"Nothing was moved; train into a new "
            f"--workdir, or use the version that wrote it")
    return target, empty, rebuilt

  def restore_latest_good(self, abstract_state):
    """(step, state, data_position) of the newest readable step, or None if none is left.

    An unreadable step is moved (not deleted) to `<directory>.corrupt/<step>` with a
    warning, so training can write that step number again and nothing is lost. An
    intact step of another structure (IncompatibleCheckpointError) is not damage:
    it propagates, and nothing is moved.
    """
    steps = self.all_steps()
    for i, step in enumerate(reversed(steps)):
      try:
        return self.restore(abstract_state, step)
      except errors.CorruptCheckpointError as e:
        older = steps[len(steps) - 2 - i] if len(steps) - 2 - i >= 0 else None
        aside = self._set_aside(step)
        logger.warning("WARNING: %s; moved it to %s and falling back to %s", e, aside,
                       f"step {older}" if older is not None else "a fresh start")
    return None

  def _set_aside(self, step: int) -> str:
    src = os.path.join(self.directory, str(step))
    dst_dir = self.directory.rstrip("/") + ".corrupt"
    os.makedirs(dst_dir, exist_ok=True)
    dst = os.path.join(dst_dir, f"{step}.{int(time.time())}")
    os.replace(src, dst)
    self._manager.reload()
    return dst

  def wait_until_finished(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
