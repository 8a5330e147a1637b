"""The data position through a real checkpoint: a resumed digits run (the default,
image data through the local TFDS builder) continues with the next unseen batch,
so it ends bitwise where an uninterrupted run ends. A control run whose iterator
restarts from position 0 on resume shows the comparison can fail."""

import shutil

import jax
import numpy as np
import pytest

from configs import wgan_gp
from jaxgan import data
from jaxgan import loop


def _digits_config(tmp_path, num_steps):
  config = wgan_gp.get_config()  # dataset=digits
  config.dataset.data_dir = str(tmp_path / "tfds")
  config.model.hidden = (32, 32)
  config.train.batch_size = 16
  config.train.num_steps = num_steps
  config.log.every = 1
  config.log.checkpoint_every = 3
  config.log.sample_every = 100
  return config


def _leaves(state):
  return [np.asarray(x) for x in jax.tree.leaves(state)]


def _same(a, b):
  return all(np.array_equal(x, y) for x, y in zip(_leaves(a), _leaves(b)))


@pytest.mark.slow  # four short training runs, ~11 s
def test_resumed_digits_run_continues_with_the_next_unseen_batch(tmp_path, monkeypatch):
  straight = loop.train_and_evaluate(_digits_config(tmp_path, 6), str(tmp_path / "a"))
  loop.train_and_evaluate(_digits_config(tmp_path, 3), str(tmp_path / "b"))
  shutil.copytree(tmp_path / "b", tmp_path / "c")  # for the control below
  resumed = loop.train_and_evaluate(_digits_config(tmp_path, 6), str(tmp_path / "b"))
  assert int(resumed.step) == int(straight.step) == 6
  assert _same(resumed, straight)

  # Control: the same resume, but the iterator ignores the saved position.
  make_iterator = data.make_iterator
  monkeypatch.setattr(loop.data_lib, "make_iterator",
                      lambda cfg, **kw: make_iterator(cfg, **{**kw, "position": 0}))
  replayed = loop.train_and_evaluate(_digits_config(tmp_path, 6), str(tmp_path / "c"))
  assert int(replayed.step) == 6 and not _same(replayed, straight)
