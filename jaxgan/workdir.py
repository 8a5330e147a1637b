"""The workdir policy: its paths, whether it can be used, and whose run it holds.

A workdir "holds a run" once it has a checkpoint; before that it protects
nothing, so any config may start there. Its config.json is the resolved config
the run was trained with. Resuming with a config that changes what the run is
gets refused, naming the differing keys and the --config flags that bring back
the run's values; its length, logging, evaluation and compilation may change.

A class-conditional run also leaves WORKDIR/classes.json (index k names class k),
so sampling and evaluating it months later need neither the data nor its metadata.
While a command writes into a workdir it holds WORKDIR/lock.json (jaxgan/lock.py).
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import config_io
from jaxgan import errors
from jaxgan import fileio

logger = logging.getLogger("jaxgan")

# Keys a resumed run may change without changing what it is: its length (and the
# schedule horizon that follows it, warned about), logging and evaluation
# settings, the critic loop's unroll factor and a population's method (how the same
# updates compile), and the number that names a population's best member.
RESUMABLE_PREFIXES = ("train.num_steps", "optimizer.decay_steps", "train.critic_unroll",
                      "log.", "eval.", "population.best_metric", "population.method")

def _members(flat: dict) -> int:
  """How many runs a flattened config trains (jaxgan/population.py): 1 before
  populations existed."""
  size = flat.get("population.size", 1)
  sweeps = [v for k, v in flat.items() if k.startswith("population.sweep.")]
  return size * math.prod(len(v) for v in sweeps if isinstance(v, (list, tuple)) and v)


def _describe_members(k: int) -> str:
  return "a single run" if k == 1 else f"a population of {k} members"


def _existing_ancestor(path: str) -> str:
  """`path`, or its nearest ancestor that exists (what a new directory is made in)."""
  while not os.path.exists(path):
    path = os.path.dirname(path)
  return path


class Workdir:
  """Paths and checks of one run directory."""

  def __init__(self, path: str):
    self.path = os.path.abspath(os.path.expanduser(path))
    self.config_path = os.path.join(self.path, "config.json")
    self.checkpoints = os.path.join(self.path, "checkpoints")
    self.samples = os.path.join(self.path, "samples")
    self.eval = os.path.join(self.path, "eval")
    self.metrics = os.path.join(self.path, "metrics.jsonl")
    self.classes_path = os.path.join(self.path, "classes.json")

  def holds_run(self) -> bool:
    """Whether a run has saved a checkpoint here (only then is there a run to protect)."""
    return checkpoint_lib.has_steps(self.checkpoints)

  def check_writable(self) -> None:
    """Raises WorkdirError unless the workdir is (or can be created as) a writable dir."""
    path = self.path
    if os.path.exists(path) and not os.path.isdir(path):
      raise errors.WorkdirError(f"workdir {path} is a file, not a directory; "
                                f"choose another --workdir")
    existing = _existing_ancestor(path)
    if not os.path.isdir(existing):
      raise errors.WorkdirError(f"workdir {path} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
      raise errors.WorkdirError(f"workdir {path} is not writable "
                                f"({existing} is read-only); choose another --workdir")
    for sub in (self.checkpoints, self.samples, self.eval):
      if os.path.exists(sub) and not os.access(sub, os.W_OK | os.X_OK):
        raise errors.WorkdirError(f"{sub} is read-only; cannot write this run")

  def check_readable_run(self) -> None:
    """Raises unless the workdir is a directory with checkpoints (sample / eval modes)."""
    if not os.path.exists(self.path):
      raise errors.NoCheckpointError(f"workdir {self.path} does not exist; train first "
                                     f"with --mode=train")
    if not os.path.isdir(self.path):
      raise errors.WorkdirError(f"workdir {self.path} is a file, not a run directory")
    if not self.holds_run():
      raise errors.NoCheckpointError(
          f"no checkpoint in {self.checkpoints}; train first with --mode=train")

  def check_outputs_writable(self, directory: str) -> None:
    """Raises WorkdirError unless `directory` (inside the workdir) can be written."""
    existing = _existing_ancestor(directory)
    if not os.access(existing, os.W_OK | os.X_OK):
      raise errors.WorkdirError(f"cannot write {directory}: {existing} is read-only")

  def read_config(self, *, log_upgrade: bool = True):
    """The run's own config (config.json) as a locked ConfigDict, with keys newer
    than the run filled in (config_io.load_json)."""
    if not os.path.exists(self.config_path):
      raise errors.NoCheckpointError(
          f"{self.config_path} does not exist; pass the run's --config, or train first")
    try:
      return config_io.load_json(self.config_path, log_upgrade=log_upgrade)
    except errors.ConfigError as e:
      raise errors.WorkdirError(str(e)) from None

  def read_classes(self) -> tuple[str, ...] | None:
    """The class names of a conditional run (classes.json), or None if there are none."""
    if not os.path.exists(self.classes_path):
      return None
    try:
      with open(self.classes_path) as f:
        names = json.load(f)["class_names"]
    except (OSError, ValueError, KeyError, TypeError) as e:
      raise errors.WorkdirError(f"cannot read {self.classes_path}: {e}") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
      raise errors.WorkdirError(f"{self.classes_path} must hold {{\"class_names\": [names]}}")
    return tuple(names)

  def check_classes(self, names) -> None:
    """Raises WorkdirError, before anything is written, if the run here was trained
    on other classes than `names` (a conditional run's; () checks nothing)."""
    old = self.read_classes() if names else None
    if old is not None and old != tuple(names) and self.holds_run():
      raise errors.WorkdirError(
          f"{self.classes_path} names the run's classes {list(old)}, but the data now has "
          f"{list(names)}; label k would change meaning. Use a new --workdir, or restore "
          f"the data's classes")

  def write_classes(self, names) -> None:
    """Writes classes.json (atomically) for a conditional run's class names, unless it
    already holds them (the loop refused a run whose classes changed before this)."""
    names = tuple(names)
    if self.read_classes() != names:
      text = json.dumps({"num_classes": len(names), "class_names": list(names)}, indent=2)
      fileio.write_atomic(self.classes_path, lambda f: f.write(text + "\n"), mode="w")

  def write_config(self, config) -> None:
    """Writes config.json (atomically), unless it already holds exactly this config."""
    text = json.dumps(config_io.to_json(config), indent=2, sort_keys=True) + "\n"
    if os.path.exists(self.config_path):
      with open(self.config_path) as f:
        if f.read() == text:
          return
    try:
      fileio.write_atomic(self.config_path, lambda f: f.write(text), mode="w")
    except OSError as e:
      if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        raise errors.WorkdirError(f"cannot write {self.config_path}: {e.strerror}") from None
      raise

  def check_config(self, config, *, allow_change: bool = False,
                   training: bool = True) -> None:
    """Refuses (WorkdirError) to continue the run here with a config that changes it.

    A key the run's config.json lacks was added to jaxgan later: its default
    reproduces the earlier behaviour, so it is a warning. Keys in
    config_io.RETIRED_KEYS are ignored. `training` adds the warning that a re-sized
    linear decay makes the rate jump. Even with `allow_change`, another number of
    members is refused: the checkpoint could not be read into the new state.
    """
    if not self.holds_run() or not os.path.exists(self.config_path):
      return
    with open(self.config_path) as f:
      old = config_io.flatten(json.load(f))
    new = config_io.flatten(config_io.to_json(config))
    if _members(old) != _members(new):
      raise errors.WorkdirError(
          f"workdir {self.path} holds {_describe_members(_members(old))}; this config "
          f"trains {_describe_members(_members(new))}. A run's number of members cannot "
          f"change: use a new --workdir (--mode=export --member=i writes one of a "
          f"population's members as its own run)")
    if allow_change:
      return
    for key in [k for k in old if k in config_io.RETIRED_KEYS]:
      logger.info("config.json has %s=%r, which jaxgan no longer has (%s)", key, old[key],
                  config_io.RETIRED_KEYS[key])
      del old[key]
    added = sorted(k for k in set(new) - set(old) if not k.startswith(RESUMABLE_PREFIXES))
    # A run older than populations was a single run, which the new keys still describe.
    added = [k for k in added if not k.startswith("population.")]
    if "dataset.channels" in added and config.dataset.name == "folder":
      # Only a folder of grey images changes: it used to train in colour.
      from jaxgan import data as data_lib  # pylint: disable=g-import-not-at-top
      if data_lib.data_shape(config.dataset)[-1] != 3:
        old["dataset.channels"] = 3
        added.remove("dataset.channels")
    if added and training:
      values = ", ".join(f"{k}={new[k]!r}" for k in added)
      if len(added) <= 3:
        logger.warning("WARNING: %s predates config keys %s; using their values %s",
                       self.config_path, ", ".join(added), values)
      else:
        logger.warning("WARNING: %s predates %s; using this config's values for them "
                       "(listed with --verbosity=1)", self.config_path,
                       config_io.describe_keys(added))
        logger.debug("their values: %s", values)
    changed = [k for k in sorted(old) if k not in new or (
        old[k] != new[k] and not k.startswith(RESUMABLE_PREFIXES))]
    if changed:
      diffs = [f"{k}: {old[k]!r} -> {new.get(k, '<missing>')!r}" for k in changed]
      keep = [config_io.override_flag(k, old[k]) for k in changed if k in new]
      raise errors.WorkdirError(
          f"workdir {self.path} holds a run with a different config "
          f"({'; '.join(diffs)}). Use a new --workdir"
          + (f", or pass the run's values: {' '.join(keep)} ;" if keep else ",")
          + " or pass --allow_config_change to continue this run with the new values")
    schedules = (new.get("optimizer.critic.schedule"), new.get("optimizer.generator.schedule"))
    old_decay = old.get("optimizer.decay_steps", old.get("train.num_steps"))
    if training and "linear" in schedules and old_decay != new.get("optimizer.decay_steps"):
      logger.warning(
          "WARNING: the linear learning-rate decay now spans %s steps instead of the "
          "run's %s, so the rate jumps at the resumed step; pass %s to keep it",
          new.get("optimizer.decay_steps"), old_decay,
          config_io.override_flag("optimizer.decay_steps", old_decay))
