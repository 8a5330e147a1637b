"""The trainer's one entry into the data: `make_iterator`.

Item `i` (everything one train step consumes from this process, see make_iterator)
is a fixed function of (dataset, seed, process, i), so an iterator built with
`position=p` yields exactly the items an uninterrupted one yields from item `p` on;
the trainer saves `.position` in its checkpoint. Process shards are disjoint.
Placing items on devices is the train loop's job.

Three paths, chosen by the registry: toy data is drawn by numpy (`toy_items`);
digits, mnist, fashion_mnist and cifar10 are loaded once (`load.load_split`) and
served by numpy (`memory.items`); tf_flowers, celeb_a and folders are streamed
through tf.data (`stream.items`). TensorFlow is imported only for the last two:
importing it takes seconds and toy runs need none.
"""

from __future__ import annotations

import itertools
from typing import Iterator

import ml_collections
import numpy as np

from jaxgan.data import memory
from jaxgan.data import properties
from jaxgan.data import registry
from jaxgan.data import toy


class DataIterator:
  """Endless iterator over items; `.position` = index of the next item.

  Save `.position` and pass it back as `make_iterator(..., position=...)` to resume
  exactly.
  """

  def __init__(self, items: Iterator, *, position: int):
    self._items = items
    self.position = position

  def __iter__(self) -> "DataIterator":
    return self

  def __next__(self):
    item = next(self._items)
    self.position += 1
    return item

  def close(self) -> None:
    """Stops the source now. A streamed tf.data iterator left to the interpreter's
    exit made that exit wait on TF's background threads."""
    close = getattr(self._items, "close", None)
    if close is not None:
      close()
    self._items = iter(())


def toy_items(name: str, *, seed: int, process_index: int, process_count: int,
              batch_size: int, n_critic: int, start: int) -> Iterator[np.ndarray]:
  """Items of a toy dataset from item `start` on; item i is a function of its index.

  Each item is this process's slice of the *global* batch drawn for that step, so
  the data does not depend on how many processes share the work.
  """
  global_batch = batch_size * process_count
  for step in itertools.count(start):
    rng = np.random.default_rng([seed, step])
    item = toy.sample(name, rng, n_critic * global_batch).reshape(n_critic, global_batch, 2)
    yield item[:, process_index * batch_size:(process_index + 1) * batch_size]


def make_iterator(dataset_cfg: ml_collections.ConfigDict, *, global_batch_size: int,
                  n_critic: int, seed: int, position: int = 0, process_index: int = 0,
                  process_count: int = 1, with_labels: bool = False) -> DataIterator:
  """The real-data iterator the trainer consumes, one item per train step.

  Args:
    dataset_cfg: the `dataset` config block (name, data_dir, path, image_size,
      channels, shuffle_buffer), validated by the config checks.
    global_batch_size: examples per critic batch summed over all processes.
    n_critic: critic batches per item (per generator step).
    seed: data seed (shuffling, toy sampling).
    position: first item to yield (a saved `.position`).
    process_index: this process's index; it reads only its own shard of the data.
    process_count: number of processes.
    with_labels: items are (images, labels); the default yields images only.

  Returns:
    A DataIterator of float32 numpy items [n_critic, global_batch_size /
    process_count, ...], or (items, int32 labels [n_critic, B_local]).

  Raises:
    ValueError: the batch does not divide among the processes, labels asked of
      unlabelled data, a folder without usable images, too few examples for the
      processes.
    DatasetNotPreparedError: a TFDS dataset is not on disk (a ValueError).
  """
  return make_iterators(dataset_cfg, global_batch_size=global_batch_size,
                        n_critic=n_critic, seeds=(seed,), position=position,
                        process_index=process_index, process_count=process_count,
                        with_labels=with_labels)[seed]


def make_iterators(dataset_cfg: ml_collections.ConfigDict, *, global_batch_size: int,
                   n_critic: int, seeds, position: int = 0, process_index: int = 0,
                   process_count: int = 1,
                   with_labels: bool = False) -> dict[int, DataIterator]:
  """{seed: make_iterator(..., seed=seed, ...)} for each of `seeds` (a population's
  members); an in-memory dataset is loaded once and shared by all of them.

  Arguments and errors as make_iterator's, with `seeds` in place of `seed`.
  """
  entry = registry.info(dataset_cfg.name)
  if global_batch_size % process_count:
    raise ValueError(f"global batch size {global_batch_size} is not divisible by "
                     f"the process count {process_count}")
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index {process_index} is not in [0, {process_count})")
  if position < 0:
    raise ValueError(f"position must be >= 0, got {position}")
  if with_labels:
    properties.require_labels(dataset_cfg)
  batch_size = global_batch_size // process_count
  shape = properties.data_shape(dataset_cfg)
  common = dict(process_index=process_index, process_count=process_count,
                batch_size=batch_size, n_critic=n_critic, start=position)
  if entry.kind == registry.TOY:
    items = {seed: toy_items(dataset_cfg.name, seed=seed, **common) for seed in seeds}
  elif entry.in_memory:
    from jaxgan.data import load  # pylint: disable=g-import-not-at-top  (TF: see top)
    images, labels = load.load_split(dataset_cfg, entry.train_split,
                                     with_labels=with_labels,
                                     process_index=process_index,
                                     process_count=process_count)
    # Loading above runs now (so a missing dataset fails at once); items are lazy.
    items = {seed: memory.items(images, labels, seed=seed, n_critic=n_critic,
                                batch_size=batch_size, start=position) for seed in seeds}
  else:
    from jaxgan.data import stream  # pylint: disable=g-import-not-at-top  (TF: see top)
    items = {seed: stream.items(dataset_cfg, channels=shape[-1], with_labels=with_labels,
                                seed=seed, **common) for seed in seeds}
  return {seed: DataIterator(it, position=position) for seed, it in items.items()}
