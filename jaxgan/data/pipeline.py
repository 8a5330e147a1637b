"""The trainer's one entry into the data: `make_iterator` and `data_shape`.

An iterator item is everything one train step consumes on this host: `n_critic`
batches of real data, float32, images in [-1, 1]. Item `i` is a fixed function of
(dataset, seed, process, i), so an iterator built with `position=p` yields exactly the
items an uninterrupted one yields from item `p` on; the trainer saves `.position` in
its checkpoint.

Toy datasets are numpy: item i is this process's slice of the global batch drawn
from `default_rng([seed, i])`, so toy data does not depend on the process count.
Image datasets go through TF / TFDS (`jaxgan.data.images`), imported only when an
image dataset is asked for: importing TensorFlow costs ~10 s and toy runs need none.
"""

from __future__ import annotations

import itertools
from typing import Iterator

import ml_collections
import numpy as np

from jaxgan.data import toy

TOY_DATASETS = toy.TOY_DATASETS
TFDS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "tf_flowers", "celeb_a")
IMAGE_DATASETS = ("digits",) + TFDS_DATASETS + ("folder",)
DATASETS = IMAGE_DATASETS + TOY_DATASETS
GREY_DATASETS = ("digits", "mnist", "fashion_mnist")


class DatasetNotPreparedError(ValueError):
  """A TFDS dataset is not on disk and this machine cannot download it."""


def check_name(name: str) -> None:
  """Raises ValueError naming `name` if it is not one of DATASETS."""
  if name not in DATASETS:
    raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")


def channels(name: str) -> int:
  """Image channels of dataset `name`: 1 for the grey datasets, 3 otherwise."""
  return 1 if name in GREY_DATASETS else 3


def data_shape(dataset_cfg: ml_collections.ConfigDict) -> tuple[int, ...]:
  """Shape of one example: (image_size, image_size, C) for images, (2,) for toy."""
  check_name(dataset_cfg.name)
  if dataset_cfg.name in TOY_DATASETS:
    return (2,)
  size = dataset_cfg.image_size
  if size < 1:
    raise ValueError(f"dataset.image_size must be >= 1 for {dataset_cfg.name!r}, "
                     f"got {size}")
  return (size, size, channels(dataset_cfg.name))


def local_batch_size(global_batch_size: int, *, process_count: int = 1,
                     num_local_devices: int | None = None) -> int:
  """Examples per batch on this process; checks that the global batch divides.

  Raises:
    ValueError: if global_batch_size is not a positive multiple of
      process_count * num_local_devices, saying so with the numbers.
  """
  devices = 1 if num_local_devices is None else num_local_devices
  if process_count < 1 or devices < 1:
    raise ValueError(f"process_count ({process_count}) and num_local_devices "
                     f"({num_local_devices}) must be >= 1")
  shards = process_count * devices
  if global_batch_size < 1 or global_batch_size % shards:
    raise ValueError(
        f"global batch size {global_batch_size} is not divisible by process_count "
        f"* num_local_devices = {process_count} * {devices} = {shards}")
  return global_batch_size // process_count


def item_shape(shape: tuple[int, ...], *, batch_size: int, n_critic: int,
               num_local_devices: int | None) -> tuple[int, ...]:
  """Shape of one iterator item for a per-process batch of `batch_size` examples."""
  if num_local_devices is None:
    return (n_critic, batch_size, *shape)
  return (num_local_devices, n_critic, batch_size // num_local_devices, *shape)


def split_for_devices(item: np.ndarray, num_local_devices: int) -> np.ndarray:
  """[n_critic, B, ...] -> [D, n_critic, B/D, ...]: device d gets examples d*B/D.."""
  n_critic, batch = item.shape[:2]
  item = item.reshape(n_critic, num_local_devices, batch // num_local_devices,
                      *item.shape[2:])
  return np.ascontiguousarray(np.swapaxes(item, 0, 1))


class DataIterator:
  """Endless iterator over items; `.position` = items yielded, counting the start.

  Attributes:
    position: index of the next item; save it and pass it back as
      `make_iterator(..., position=...)` to resume exactly.
    item_shape: shape of every item.
  """

  def __init__(self, items: Iterator[np.ndarray], *, position: int,
               item_shape: tuple[int, ...]):
    self._items = items
    self.position = position
    self.item_shape = item_shape

  def __iter__(self) -> "DataIterator":
    return self

  def __next__(self) -> np.ndarray:
    item = next(self._items)
    self.position += 1
    return item


def toy_items(name: str, *, seed: int, process_index: int, process_count: int,
              batch_size: int, n_critic: int, start: int,
              num_local_devices: int | None) -> Iterator[np.ndarray]:
  """Items of a toy dataset from item `start` on; item i is a function of its index.

  Each item is this process's slice of the *global* batch drawn for that step, so
  the data does not depend on how many processes share the work.
  """
  for step in itertools.count(start):
    rng = np.random.default_rng([seed, step])
    global_batch = batch_size * process_count
    item = toy.sample(name, rng, n_critic * global_batch).reshape(n_critic, global_batch, 2)
    item = item[:, process_index * batch_size:(process_index + 1) * batch_size]
    yield item if num_local_devices is None else split_for_devices(
        item, num_local_devices)


def make_iterator(dataset_cfg: ml_collections.ConfigDict, *, global_batch_size: int,
                  n_critic: int, seed: int, position: int = 0,
                  num_local_devices: int | None = None, process_index: int = 0,
                  process_count: int = 1) -> DataIterator:
  """The real-data iterator the trainer consumes, one item per train step.

  Args:
    dataset_cfg: the `dataset` config block (name, data_dir, path, image_size,
      shuffle_buffer).
    global_batch_size: examples per critic batch summed over all processes.
    n_critic: critic batches per item (per generator step).
    seed: data seed (shuffling, toy sampling); >= 0.
    position: first item to yield (a saved `.position`).
    num_local_devices: None for items [n_critic, B, ...] (B = global batch /
      process_count); an int D for per-device items [D, n_critic, B/D, ...] (pmap).
    process_index: this host's index; it reads only its own shard of the data.
    process_count: number of hosts.

  Returns:
    A DataIterator of float32 numpy items.

  Raises:
    ValueError: unknown dataset, indivisible batch, bad arguments.
    DatasetNotPreparedError: a TFDS dataset is not on disk (a ValueError).
  """
  check_name(dataset_cfg.name)
  batch_size = local_batch_size(global_batch_size, process_count=process_count,
                                num_local_devices=num_local_devices)
  if n_critic < 1:
    raise ValueError(f"n_critic must be >= 1, got {n_critic}")
  if seed < 0:
    raise ValueError(f"the data seed must be >= 0, got {seed}")
  if position < 0:
    raise ValueError(f"position must be >= 0, got {position}")
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index {process_index} is not in [0, {process_count})")
  shape = item_shape(data_shape(dataset_cfg), batch_size=batch_size,
                     n_critic=n_critic, num_local_devices=num_local_devices)
  kwargs = dict(seed=seed, process_index=process_index, batch_size=batch_size,
                n_critic=n_critic, start=position, num_local_devices=num_local_devices)
  if dataset_cfg.name in TOY_DATASETS:
    items = toy_items(dataset_cfg.name, process_count=process_count, **kwargs)
  else:
    from jaxgan.data import images  # pylint: disable=g-import-not-at-top  (TF: see top)
    items = images.image_items(dataset_cfg, process_count=process_count, **kwargs)
  return DataIterator(items, position=position, item_shape=shape)
