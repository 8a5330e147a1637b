"""Image datasets through tf.data / TFDS: digits, TFDS datasets and image folders.

Two paths. Small fixed-size datasets (IN_MEMORY_DATASETS: digits, mnist,
fashion_mnist, cifar10) are decoded once into memory and served by numpy with
epoch-seeded permutations (`in_memory_items`). Everything else streams:
every source becomes the same thing, a dataset of *encoded* images for this process
(its shard of the train split) plus a decode function; one pipeline then shuffles,
decodes, crops / resizes and batches it:

  records (encoded, this process's shard)
    -> endless epochs, epoch e shuffled with a seed derived from (seed, e)
    -> decode -> centre crop to a square -> resize to image_size -> [-1, 1]
    -> batch n_critic * B -> [n_critic, B, ...] or [D, n_critic, B/D, ...]
    -> prefetch -> numpy

Why epoch-seeded shuffles (both paths): a resumed iterator knows which epoch and
which example within it to start from (`divmod(examples consumed, shard size)`), so
resuming skips at most one epoch of encoded records instead of replaying the whole
run (in memory it skips nothing). Skipping happens before decoding: it reads bytes.
"""

from __future__ import annotations

import itertools
from typing import Callable, Iterator

import ml_collections
import numpy as np
import tensorflow_datasets as tfds

from jaxgan.data import folder
from jaxgan.data import pipeline
from jaxgan.data._tf import tf

_SPLIT = "train"


def _epoch_seed(seed: int, epoch: tf.Tensor) -> tf.Tensor:
  """A distinct int64 shuffle seed per (seed, epoch) for seed, epoch < 2**31."""
  return tf.constant(seed % 2**31, tf.int64) * 2**31 + epoch


def epoch_stream(records: tf.data.Dataset, num_records: int, *, seed: int,
                 shuffle_buffer: int, start: int) -> tf.data.Dataset:
  """Endless stream of `records` from example `start` on, reshuffled every epoch.

  Epoch e is `records` shuffled with a seed fixed by (seed, e), so example k of the
  stream is a function of k alone and a stream built with `start=k` continues an
  uninterrupted one exactly.
  """
  if num_records < 1:
    raise ValueError("cannot stream an empty dataset")
  start_epoch, offset = divmod(start, num_records)
  offset = tf.constant(offset, tf.int64)

  def one_epoch(epoch):
    shuffled = records.shuffle(shuffle_buffer, seed=_epoch_seed(seed, epoch),
                               reshuffle_each_iteration=False)
    return shuffled.skip(tf.where(epoch == start_epoch, offset, 0))

  return tf.data.Dataset.counter(start_epoch).flat_map(one_epoch)


def to_model_input(image: tf.Tensor, image_size: int, num_channels: int) -> tf.Tensor:
  """uint8 [h, w, c] -> float32 [image_size, image_size, c] in [-1, 1].

  Non-square images are centre-cropped to a square first (CelebA's usual
  treatment), then resized with antialiasing, so downscaling averages rather than
  aliases. An image already at image_size is passed through untouched.
  """
  shape = tf.shape(image)
  height, width = shape[0], shape[1]
  side = tf.minimum(height, width)
  image = tf.image.crop_to_bounding_box(image, (height - side) // 2,
                                        (width - side) // 2, side, side)
  image = tf.cast(image, tf.float32)
  image = tf.cond(
      tf.equal(side, image_size), lambda: image,
      lambda: tf.image.resize(image, [image_size, image_size], antialias=True))
  image = tf.ensure_shape(image, [image_size, image_size, num_channels])
  # Bilinear weights are non-negative, so this clip only guards float rounding.
  return tf.clip_by_value(image / 127.5 - 1.0, -1.0, 1.0)


def split_for_devices(batch: tf.Tensor, n_critic: int,
                      num_local_devices: int | None) -> tf.Tensor:
  """[n_critic * B, ...] -> [n_critic, B, ...], or [D, n_critic, B/D, ...] per device.

  Same layout as `pipeline.split_for_devices`: device d gets examples d*B/D.. of
  every critic batch.
  """
  rest = batch.shape[1:]
  if num_local_devices is None:
    return tf.reshape(batch, [n_critic, -1, *rest])
  batch = tf.reshape(batch, [n_critic, num_local_devices, -1, *rest])
  perm = [1, 0] + list(range(2, len(rest) + 3))
  return tf.transpose(batch, perm)


def _not_prepared_message(builder: tfds.core.DatasetBuilder, name: str) -> str:
  root = builder.data_dir_root
  return (
      f"TFDS dataset {name!r} is not prepared in data_dir {str(root)!r} (looked for "
      f"{builder.data_dir}) and this machine cannot download it. Prepare it offline: "
      f"on a machine with network access run `tfds build {name} "
      f"--data_dir=/tmp/tfds` and copy /tmp/tfds/{name} to {root}/{name}; if the "
      f"dataset needs a manual download, put its files in {root}/downloads/manual "
      f"and run `tfds build {name} --data_dir={root}`. Or point dataset.data_dir "
      "at a directory that holds it.")


def tfds_builder(name: str, data_dir: str) -> tfds.core.DatasetBuilder:
  """The builder for `name`; digits is prepared on first use (offline).

  Whether a TFDS dataset is on disk is checked by `_as_dataset`, before any
  data is read, so a run without it stops at once with DatasetNotPreparedError.
  """
  if name == "digits":
    from jaxgan.data import digits  # pylint: disable=g-import-not-at-top
    builder = digits.Digits(data_dir=data_dir or None)
    if not builder.is_prepared():
      builder.download_and_prepare()  # a second or so: sklearn ships the data
    return builder
  builder = tfds.builder(name, data_dir=data_dir or None)
  return builder


def _as_dataset(builder: tfds.core.DatasetBuilder, name: str, **kwargs) -> tf.data.Dataset:
  """builder.as_dataset, with "not on disk" turned into DatasetNotPreparedError.

  Asking as_dataset (rather than is_prepared) keeps tfds.testing.mock_data working:
  it replaces as_dataset and leaves no files on disk.
  """
  try:
    return builder.as_dataset(**kwargs)
  except AssertionError as e:
    if "could not find data" not in str(e):
      raise
    raise pipeline.DatasetNotPreparedError(_not_prepared_message(builder, name)) from None


Source = tuple[tf.data.Dataset, int, Callable[[tf.Tensor], tf.Tensor], int]


def tfds_source(cfg: ml_collections.ConfigDict, *, process_index: int,
                process_count: int) -> Source:
  """(encoded images of this process's shard, their count, decode, shuffle buffer)."""
  builder = tfds_builder(cfg.name, cfg.data_dir)
  split = tfds.split_for_jax_process(_SPLIT, process_index=process_index,
                                     process_count=process_count)
  ds = _as_dataset(builder, cfg.name, split=split, shuffle_files=False,
                   decoders={"image": tfds.decode.SkipDecoding()})
  num_records = int(ds.cardinality())
  if num_records < 0:  # cardinality unknown: fall back on the split's metadata
    num_records = builder.info.splits[split].num_examples
  decode = builder.info.features["image"].decode_example
  return ds.map(lambda ex: ex["image"]), num_records, decode, cfg.shuffle_buffer


def _decode_file(path: tf.Tensor) -> tf.Tensor:
  return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


def folder_source(cfg: ml_collections.ConfigDict, *, process_index: int,
                  process_count: int) -> Source:
  """(file names of this process's shard, their count, decode, shuffle buffer)."""
  files = folder.list_images(cfg.path)
  shard = files[process_index::process_count]
  if not shard:
    raise ValueError(f"dataset.path {cfg.path!r} has {len(files)} image(s), fewer "
                     f"than the {process_count} processes reading it")
  # File names are tiny, so shuffle whole epochs instead of a window.
  return tf.data.Dataset.from_tensor_slices(list(shard)), len(shard), _decode_file, len(shard)


# Fixed-size datasets small enough to hold decoded in memory (MNIST 47 MB, CIFAR-10
# 150 MB as uint8). They skip tf.data per-element work entirely: the digits stream
# ran at ~70 items/s through tf.data, barely ahead of the ~63 items/s the default
# step consumes; in memory it is not a bottleneck (benchmarks/input_pipeline.py).
IN_MEMORY_DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")


def _preprocess_all(images: np.ndarray, image_size: int) -> np.ndarray:
  """uint8 [N, h, w, c] -> uint8 unchanged at the target size, else float32 [-1, 1].

  Same maths as `to_model_input` (centre crop, antialiased resize), batched.
  """
  _, height, width, _ = images.shape
  if height == width == image_size:
    return images  # converted per batch: x / 127.5 - 1, exactly as to_model_input
  side = min(height, width)
  x = tf.image.crop_to_bounding_box(images, (height - side) // 2, (width - side) // 2,
                                    side, side)
  x = tf.image.resize(tf.cast(x, tf.float32), [image_size, image_size], antialias=True)
  return np.clip(x.numpy() / 127.5 - 1.0, -1.0, 1.0).astype(np.float32)


def _to_float(batch: np.ndarray) -> np.ndarray:
  if batch.dtype == np.uint8:
    return batch.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
  return batch


def in_memory_items(cfg: ml_collections.ConfigDict, *, seed: int, process_index: int,
                    process_count: int, batch_size: int, n_critic: int, start: int,
                    num_local_devices: int | None) -> Iterator[np.ndarray]:
  """Items of a small fixed-size TFDS dataset, decoded once and held in memory.

  The stream is endless epochs of this process's shard, epoch e permuted by
  np.random.default_rng([seed, e]); item k is examples [k*E, (k+1)*E) of that
  stream (E = n_critic * batch_size), so it depends on (seed, k) alone and a
  resume at any item costs nothing.
  """
  builder = tfds_builder(cfg.name, cfg.data_dir)
  split = tfds.split_for_jax_process(_SPLIT, process_index=process_index,
                                     process_count=process_count)
  ds = _as_dataset(builder, cfg.name, split=split, shuffle_files=False)
  ds = ds.map(lambda ex: ex["image"], num_parallel_calls=tf.data.AUTOTUNE).batch(8192)
  # Finite iteration in chunks (not batch_size=-1, which tfds' mock data cannot do).
  chunks = list(tfds.as_numpy(ds))
  if not chunks:
    raise ValueError(f"dataset {cfg.name!r} has no training examples for process "
                     f"{process_index} of {process_count}")
  images = _preprocess_all(np.concatenate(chunks), cfg.image_size)
  # Loading above runs now (so a missing dataset fails at once); the stream is lazy.
  return _in_memory_stream(images, seed=seed, per_item=n_critic * batch_size,
                           n_critic=n_critic, batch_size=batch_size, start=start,
                           num_local_devices=num_local_devices)


def _in_memory_stream(images: np.ndarray, *, seed: int, per_item: int, n_critic: int,
                      batch_size: int, start: int,
                      num_local_devices: int | None) -> Iterator[np.ndarray]:
  num = len(images)
  permutations: dict[int, np.ndarray] = {}

  def permutation(epoch: int) -> np.ndarray:
    if epoch not in permutations:
      if len(permutations) > 2:
        permutations.pop(min(permutations))
      permutations[epoch] = np.random.default_rng([seed, epoch]).permutation(num)
    return permutations[epoch]

  for k in itertools.count(start):
    stream = np.arange(k * per_item, (k + 1) * per_item, dtype=np.int64)
    epochs, offsets = np.divmod(stream, num)
    chosen = np.empty(per_item, np.int64)
    for epoch in np.unique(epochs):
      mask = epochs == epoch
      chosen[mask] = permutation(int(epoch))[offsets[mask]]
    item = _to_float(images[chosen]).reshape(n_critic, batch_size, *images.shape[1:])
    yield item if num_local_devices is None else pipeline.split_for_devices(
        item, num_local_devices)


def image_items(cfg: ml_collections.ConfigDict, *, seed: int, process_index: int,
                process_count: int, batch_size: int, n_critic: int, start: int,
                num_local_devices: int | None) -> Iterator[np.ndarray]:
  """Items of an image dataset from item `start` on (see `pipeline.make_iterator`)."""
  if cfg.name in IN_MEMORY_DATASETS:
    return in_memory_items(cfg, seed=seed, process_index=process_index,
                           process_count=process_count, batch_size=batch_size,
                           n_critic=n_critic, start=start,
                           num_local_devices=num_local_devices)
  if cfg.shuffle_buffer < 1:
    raise ValueError(f"dataset.shuffle_buffer must be >= 1, got {cfg.shuffle_buffer}")
  make_source = folder_source if cfg.name == "folder" else tfds_source
  records, num_records, decode, shuffle_buffer = make_source(
      cfg, process_index=process_index, process_count=process_count)
  examples_per_item = n_critic * batch_size
  num_channels = pipeline.channels(cfg.name)
  ds = epoch_stream(records, num_records, seed=seed, shuffle_buffer=shuffle_buffer,
                    start=start * examples_per_item)
  ds = ds.map(lambda r: to_model_input(decode(r), cfg.image_size, num_channels),
              num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.batch(examples_per_item, drop_remainder=True)
  ds = ds.map(lambda b: split_for_devices(b, n_critic, num_local_devices))
  ds = ds.prefetch(tf.data.AUTOTUNE)
  items = iter(tfds.as_numpy(ds))
  if cfg.name == "folder":
    return _name_undecodable_files(items, cfg.path)
  return items


def _name_undecodable_files(items: Iterator[np.ndarray], path: str) -> Iterator[np.ndarray]:
  """Passes items through; a TF decode failure becomes an error naming the files.

  The cheap pre-training check misses e.g. a JPEG with zeroed bytes mid-file, and
  TF's own error does not say which file failed.
  """
  try:
    yield from items
  except tf.errors.InvalidArgumentError as e:
    bad = folder.undecodable(folder.list_images(path))
    named = "; ".join(f"{f} ({why})" for f, why in bad) or "none found by PIL"
    raise ValueError(
        f"an image under dataset.path {path!r} failed to decode during training; "
        f"undecodable files: {named}. Remove them and resume. "
        f"TensorFlow said: {e.message.splitlines()[0]}") from None
