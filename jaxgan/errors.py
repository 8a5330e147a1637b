"""The errors jaxgan reports to a user as one line, and the exit status of each.

Library code raises these with a message that is already the line the user should
read: what was wrong (naming the value, key, path or step) and what is allowed or
what to do. `launch.py` prints `error: <message>` and exits with `exit_code`; it
never parses exception text. Anything else that escapes is a bug and keeps its
traceback.
"""

from __future__ import annotations


class UserError(Exception):
  """A problem with what the user asked for; nothing was written or overwritten."""

  exit_code = 2


class ConfigError(UserError, ValueError):
  """A config value, override, variant or recipe file is unknown or out of range."""


class WorkdirError(UserError):
  """The workdir cannot be used: a file, read-only, or a run with another config."""


class WorkdirLockedError(WorkdirError):
  """Another command is writing the workdir (jaxgan/lock.py names it)."""


class DataError(UserError, ValueError):
  """The data cannot be opened: a dataset not prepared, an empty or broken folder."""


class NoCheckpointError(UserError, FileNotFoundError):
  """A restore was asked of a directory without (that) checkpoint."""


class CorruptCheckpointError(UserError, RuntimeError):
  """A checkpoint step exists but cannot be read (truncated, overwritten, partial)."""


class IncompatibleCheckpointError(UserError, RuntimeError):
  """A checkpoint step is intact but holds a state of another structure than this
  jaxgan builds for the config (written by another version); it is left in place."""


class NonFiniteError(UserError, FloatingPointError):
  """A loss, gradient norm or parameter became NaN or infinite; nothing was saved."""

  exit_code = 3
