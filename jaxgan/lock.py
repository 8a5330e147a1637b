"""One writer per workdir: a lock file held for the life of a training, and of a
sample, evaluation or export that writes.

WORKDIR/lock.json names its holder (host, pid, mode, since). A second writer is
refused with one line naming the holder (errors.WorkdirLockedError, exit 2)
before it writes anything. A lock whose holder is gone is taken over with a line
saying so: the pid is dead on this host, or the heartbeat (the file's mtime, which
the holder refreshes every HEARTBEAT seconds from a thread) is older than
STALE_AFTER, which also covers holders on other hosts of a shared filesystem.

In a multi-process job only process 0 takes the lock; the other processes of the
job act under it, so they are not refused. The lock is advisory and exists only
while a command runs: library calls (jaxgan.loop, jaxgan.restore) do not take it.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import socket
import threading
import time

from jaxgan import errors

logger = logging.getLogger("jaxgan")

NAME = "lock.json"
HEARTBEAT = 30.0  # seconds between refreshes of the lock's mtime
STALE_AFTER = 10 * HEARTBEAT  # a lock not refreshed for this long has no live holder


def _utc(t: float) -> str:
  return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
      "%Y-%m-%d %H:%M:%S UTC")


def _ago(seconds: float) -> str:
  seconds = max(0, int(seconds))
  return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m"


def _read(path: str) -> dict:
  """The holder a lock file names ({} while it is being written or unreadable)."""
  try:
    with open(path) as f:
      holder = json.load(f)
    return holder if isinstance(holder, dict) else {}
  except (OSError, ValueError):
    return {}


def _pid_alive(pid) -> bool:
  try:
    os.kill(int(pid), 0)
  except ProcessLookupError:
    return False
  except (PermissionError, ValueError, TypeError, OverflowError):
    return True  # another user's process, or a pid we cannot judge: assume alive
  return True


def _stale_reason(holder: dict, mtime: float, now: float) -> str | None:
  """Why a lock has no live holder, or None while it may have one."""
  if holder.get("host") == socket.gethostname() and "pid" in holder:
    if holder["pid"] == os.getpid():
      return "it names this very process (a leftover of an earlier boot)"
    if not _pid_alive(holder["pid"]):
      return "that process is gone"
  if now - mtime > STALE_AFTER:
    return f"its heartbeat stopped {_ago(now - mtime)} ago"
  return None


def _describe(holder: dict, mtime: float) -> str:
  since = holder.get("since", mtime)
  return (f"{holder.get('mode', 'a command')} by pid {holder.get('pid', '?')} on host "
          f"{holder.get('host', '?')} since {_utc(since)} ({_ago(time.time() - since)} ago)")


class Lock:
  """A held lock on one workdir: `release()` (or leave `hold`) gives it up."""

  def __init__(self, workdir: str, mode: str):
    self.workdir = os.path.abspath(os.path.expanduser(workdir))
    self.path = os.path.join(self.workdir, NAME)
    self.holder = {"host": socket.gethostname(), "pid": os.getpid(), "mode": mode,
                   "since": time.time()}
    self._created = []  # directories this lock created (removed again if left empty)
    self._stop = threading.Event()
    self._thread = None

  def _makedirs(self) -> None:
    missing, path = [], self.workdir
    while not os.path.exists(path):
      missing.append(path)
      path = os.path.dirname(path)
    for path in reversed(missing):
      os.mkdir(path)
      self._created.append(path)

  def _create(self) -> bool:
    """Writes the lock file if none exists; False if one does."""
    try:
      fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      return False
    with os.fdopen(fd, "w") as f:
      json.dump(self.holder, f)
    return True

  def acquire(self) -> None:
    """Takes the lock, taking over a stale one; raises WorkdirLockedError if held."""
    self._makedirs()
    for _ in range(5):
      if self._create():
        break
      try:
        mtime = os.stat(self.path).st_mtime
      except FileNotFoundError:
        continue  # released between our attempt and the stat: try again
      holder = _read(self.path)
      reason = _stale_reason(holder, mtime, time.time())
      if reason is None:
        self._remove_created()
        raise errors.WorkdirLockedError(
            f"workdir {self.workdir} is in use: {_describe(holder, mtime)}; wait for it "
            f"to end or choose another --workdir (a lock is stale once its holder's "
            f"process is gone; it is in {self.path})")
      # Move the stale file aside atomically so that of two newcomers only one takes over.
      aside = f"{self.path}.stale.{os.getpid()}"
      try:
        if _read(self.path) != holder:
          continue  # someone else took it over meanwhile
        os.rename(self.path, aside)
        os.remove(aside)
      except FileNotFoundError:
        continue
      logger.warning("took over the lock of %s left by %s: %s", self.workdir,
                     _describe(holder, mtime), reason)
    else:
      raise errors.WorkdirLockedError(f"workdir {self.workdir}: could not take its lock "
                                      f"{self.path} (changing hands); try again")
    self._thread = threading.Thread(target=self._beat, name="jaxgan-lock", daemon=True)
    self._thread.start()

  def _beat(self) -> None:
    while not self._stop.wait(HEARTBEAT):
      with contextlib.suppress(OSError):
        if _read(self.path).get("since") == self.holder["since"]:
          os.utime(self.path)

  def _remove_created(self) -> None:
    for path in reversed(self._created):
      with contextlib.suppress(OSError):  # not empty: the command wrote there
        os.rmdir(path)

  def release(self) -> None:
    """Gives the lock up (only if it is still ours); removes directories it created
    that the command left empty."""
    self._stop.set()
    if self._thread is not None:
      self._thread.join()
    if _read(self.path) == self.holder:
      with contextlib.suppress(FileNotFoundError):
        os.remove(self.path)
    self._remove_created()


@contextlib.contextmanager
def hold(workdir: str | None, mode: str, *, primary: bool = True):
  """Holds WORKDIR's lock for the `with` block (nothing if `workdir` is None or this
  is not the job's process 0). A workdir that cannot be written is not locked here:
  the command's own checks then say why it cannot be used."""
  if workdir is None or not primary:
    yield None
    return
  lock = Lock(workdir, mode)
  try:
    lock.acquire()
  except OSError:
    lock._remove_created()  # pylint: disable=protected-access
    yield None
    return
  try:
    yield lock
  finally:
    lock.release()
