"""What the benchmark scripts record about the machine and the code they measured."""

import contextlib
import os
import platform
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_name() -> str:
  """The CPU model from /proc/cpuinfo (platform.processor() elsewhere)."""
  with contextlib.suppress(OSError):
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  return platform.processor()


def git_commit() -> str:
  """The short HEAD commit of the repository, or "" outside a git checkout."""
  with contextlib.suppress(Exception):
    return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
  return ""
