"""Shared test setup: repo root on sys.path (configs/ is a package there), quiet TF,
one persistent XLA compilation cache for the session and its subprocesses (the
end-to-end tests launch the same small models many times), the one short
conditional digits run the generator and README tests share, and no launcher's
variables: a test run inside a SLURM or MPI job must not make every launch.py it
starts try to join that job (tests/test_cluster.py simulates launchers itself)."""

import os
import sys
import tempfile

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), "jaxgan-test-xla-cache"))
CLUSTER_PREFIXES = ("SLURM_", "OMPI_", "PMI_", "PMIX_", "JAX_COORDINATOR", "MEGASCALE_")
for _name in [k for k in os.environ if k.startswith(CLUSTER_PREFIXES)]:
  del os.environ[_name]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)


@pytest.fixture(scope="session")
def conditional_digits_run(tmp_path_factory):
  """(config, workdir) of README's conditional run (wgan_gp.py:conditional=acgan) on tiny
  settings with an EMA generator: 3 steps of n_critic 1, checkpointed at its end, never evaluated.
  Its workdir is <tmp>/runs/acgan, the README's path under a temporary directory."""
  from configs import wgan_gp  # pylint: disable=g-import-not-at-top
  from jaxgan import loop  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp("conditional_digits")
  config = wgan_gp.get_config("conditional=acgan")
  config.dataset.data_dir = str(root / "tfds")
  config.model.hidden = (16, 16)
  config.train.batch_size = 16
  config.train.n_critic = 1  # a step that compiles quickly
  config.train.num_steps = 3
  config.ema.enabled = True
  config.log.eval_every = 0
  config.log.sample_every = 1000  # grids come from --mode=sample in the tests
  config.log.checkpoint_every = 1000  # one checkpoint: the last step's
  config.log.num_samples = 20
  workdir = str(root / "runs" / "acgan")
  loop.train_and_evaluate(config, workdir)
  return config, workdir


def pytest_collection_modifyitems(config, items):
  """The files of the longest end-to-end tests first (each file kept whole, so module
  fixtures are built once), so the two workers (pyproject's -n 2) do not end the
  session waiting on one long test started last."""
  del config
  heaviest = ("test_readme.py", "test_default_run.py", "test_cluster.py",
              "test_population_reliability.py", "test_reliability.py", "test_multihost.py")
  items.sort(key=lambda item: heaviest.index(item.path.name)
             if item.path.name in heaviest else len(heaviest))  # stable within a file
