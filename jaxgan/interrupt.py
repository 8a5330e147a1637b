"""Ctrl-C before training takes SIGINT over (jaxgan.loop.StopRequest).

launch.py installs `StartupInterrupt` first thing: it raises KeyboardInterrupt at
once, as Python's own handler does, and also remembers that it fired, since
start-up runs library code that can swallow the exception (a bare `except`
around an import). `raise_if_swallowed` turns a remembered one back into
KeyboardInterrupt where start-up ends: before a mode runs, before training
installs its own handler.
"""

import signal


class StartupInterrupt:
  """SIGINT handler: KeyboardInterrupt, with `fired` remembered."""

  fired = False

  def __call__(self, signum, frame):
    del signum, frame
    self.fired = True
    raise KeyboardInterrupt


def install() -> None:
  """StartupInterrupt as the SIGINT handler (main thread, before start-up)."""
  signal.signal(signal.SIGINT, StartupInterrupt())


def raise_if_swallowed() -> None:
  """KeyboardInterrupt if the SIGINT handler is a StartupInterrupt that fired."""
  if getattr(signal.getsignal(signal.SIGINT), "fired", False):
    raise KeyboardInterrupt
