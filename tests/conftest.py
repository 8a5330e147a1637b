"""Shared test setup: repo root on sys.path (configs/ is a package there), quiet TF,
and one persistent XLA compilation cache for the session and its subprocesses
(the end-to-end tests launch the same small models many times)."""

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), "jaxgan-test-xla-cache"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
