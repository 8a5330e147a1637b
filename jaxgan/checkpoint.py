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

import os

import orbax.checkpoint as ocp

STATE, DATA, CONFIG = "state", "data", "config"


class NoCheckpointError(FileNotFoundError):
  """Raised when a restore is asked of a directory without (that) checkpoint."""


class Checkpointer:
  """A thin wrapper over ocp.CheckpointManager for one run's checkpoints/ dir."""

  def __init__(self, directory: str, *, max_to_keep: int | None = None,
               read_only: bool = False):
    self.directory = os.path.abspath(directory)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, create=not read_only, read_only=read_only,
        # Never write the same step twice under a different policy decision.
        save_interval_steps=1)
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
    """Returns (step, state, data_position); `step=None` means the latest."""
    steps = self.all_steps()
    if step is None:
      step = steps[-1] if steps else None
    if step is None or step not in steps:
      available = ", ".join(map(str, steps)) if steps else "none"
      what = "no checkpoint" if step is None else f"no checkpoint for step {step}"
      raise NoCheckpointError(
          f"{what} in {self.directory} (steps available: {available})")
    restored = self._manager.restore(
        step,
        args=ocp.args.Composite(**{
            STATE: ocp.args.StandardRestore(abstract_state),
            DATA: ocp.args.JsonRestore(),
        }))
    return step, restored[STATE], int(restored[DATA]["position"])

  def wait_until_finished(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
