"""jaxgan/checkpoint.py: a state that grew since a checkpoint still restores it; an
intact checkpoint of another structure is refused and left where it is."""

import os
from typing import Any

import flax
import jax
import numpy as np
import pytest

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import errors


@flax.struct.dataclass
class Written:
  """A state as an older version saved it."""
  params: Any
  hparams: Any


@flax.struct.dataclass
class Grown:
  """The same state today: a hyperparameter more, an empty field more."""
  params: Any
  hparams: Any
  extra: Any

  REBUILT_ON_RESTORE = ("hparams",)


def _save(directory, state, step=5):
  ckpt = checkpoint_lib.Checkpointer(directory)
  ckpt.save(step, state, data_position=step, config_json={})
  ckpt.close()


def _abstract(tree):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype), tree)


def _written():
  return Written(params={"w": np.arange(6, dtype=np.float32).reshape(2, 3)},
                 hparams={"lr": np.full((2,), 1e-4, np.float32)})


def test_a_state_grown_since_the_checkpoint_restores_it(tmp_path):
  directory = str(tmp_path / "checkpoints")
  _save(directory, _written())
  grown = Grown(params=_abstract(_written().params),
                hparams={"lr": jax.ShapeDtypeStruct((2,), np.float32),
                         "acgan_scale": jax.ShapeDtypeStruct((2,), np.float32)},
                extra={})
  ckpt = checkpoint_lib.Checkpointer(directory, read_only=True)
  step, state, position = ckpt.restore(grown)
  ckpt.close()
  assert (step, position) == (5, 5)
  np.testing.assert_array_equal(state.params["w"], _written().params["w"])
  assert state.extra == {}
  assert state.hparams is grown.hparams  # a placeholder: the caller rebuilds it


def test_an_intact_checkpoint_of_another_structure_is_refused_and_left_in_place(tmp_path):
  directory = str(tmp_path / "checkpoints")
  _save(directory, _written())
  other = Written(params={"w": jax.ShapeDtypeStruct((2, 4), np.float32)},
                  hparams=_abstract(_written().hparams))
  ckpt = checkpoint_lib.Checkpointer(directory)
  with pytest.raises(errors.IncompatibleCheckpointError,
                     match=r"checkpoint step 5 .* field 'params' has 1 arrays there and 1 "
                           r"here of other shapes"):
    ckpt.restore_latest_good(other)
  ckpt.close()
  assert os.listdir(directory) == ["5"]  # not set aside, not replaced by a fresh start
  assert not os.path.exists(directory + ".corrupt")


def test_a_damaged_checkpoint_is_corrupt_not_incompatible(tmp_path):
  directory = str(tmp_path / "checkpoints")
  _save(directory, _written())
  for base, _, files in os.walk(os.path.join(directory, "5", "state")):
    for name in files:
      if not name.startswith("_"):  # the arrays, not the metadata
        with open(os.path.join(base, name), "wb") as f:
          f.write(b"\x00garbage")
  ckpt = checkpoint_lib.Checkpointer(directory)
  assert ckpt.restore_latest_good(_abstract(_written())) is None  # set aside: a fresh start
  ckpt.close()
  assert [n.split(".")[0] for n in os.listdir(directory + ".corrupt")] == ["5"]


def test_restoring_a_run_read_only_prints_no_orbax_warnings(tmp_path, caplog):
  """Sampling from Python must not print orbax's absl warnings about the read-only
  open or an older step's missing _CHECKPOINT_METADATA (the pmap-era run has none)."""
  import shutil  # pylint: disable=g-import-not-at-top
  from jaxgan import config_io, runs  # pylint: disable=g-import-not-at-top
  run_dir = tmp_path / "run"
  shutil.copytree(os.path.join(os.path.dirname(__file__), "data", "pmap_era_run"), run_dir)
  config = config_io.load_json(str(run_dir / "config.json"))
  with caplog.at_level("WARNING", logger="absl"):
    step, _, _ = runs.setup(config).restore(str(run_dir / "checkpoints"))
  assert step == 2
  assert [r.getMessage() for r in caplog.records if r.name == "absl"] == []
