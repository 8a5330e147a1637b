"""Shared test setup: repo root on sys.path (configs/ is a package there), quiet TF,
one persistent XLA compilation cache for the session and its subprocesses (the
end-to-end tests launch the same small models many times), and no launcher's
variables: a test run inside a SLURM or MPI job must not make every launch.py it
starts try to join that job (tests/test_cluster.py simulates launchers itself)."""

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), "jaxgan-test-xla-cache"))
CLUSTER_PREFIXES = ("SLURM_", "OMPI_", "PMI_", "PMIX_", "JAX_COORDINATOR", "MEGASCALE_")
for _name in [k for k in os.environ if k.startswith(CLUSTER_PREFIXES)]:
  del os.environ[_name]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
