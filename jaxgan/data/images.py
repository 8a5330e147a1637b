"""Image datasets as step items: the offline digits, TFDS datasets and image folders.

Two paths, chosen by size (`fits_in_memory`):

In memory: TFDS datasets of fixed-shape images whose decoded train shard fits in
IN_MEMORY_MAX_BYTES (digits 0.1 MB, mnist and fashion_mnist 47 MB, cifar10 150 MB;
not celeb_a, 19 GB at 218x178). This process's shard is read through TFDS and
decoded once into one uint8 array. Epoch e of the stream is the permutation
`np.random.default_rng([seed, e])` of that array, and item k is examples
[k*E, (k+1)*E) of the stream (E = n_critic * B): one gather, a batched centre crop
and resize only when image_size is not the native size, then the [-1, 1] scaling.
Item k depends on (seed, k) alone, a resume skips nothing, and no tf.data iterator
outlives the load.

Streaming (tf_flowers, celeb_a, folders): tf.data over the *encoded* images of this
process's shard:

  encoded records (TFDS read sequentially, or file names)
    -> endless epochs, epoch e shuffled with a seed fixed by (seed, e)
    -> parallel decode (+ crop / resize per image when image sizes vary)
    -> batch E -> crop / resize the whole batch (when sizes are fixed) -> [-1, 1]
    -> [n_critic, B, ...] or [D, n_critic, B/D, ...] -> prefetch -> numpy

A resumed stream starts at epoch `start // shard size` and skips the first
`start % shard size` encoded records of it: at most one epoch of bytes, nothing
decoded, and item k again depends on (seed, k) alone.

Threads, and why so few: after a 10,000-step run (~2,000 epochs of digits through
an earlier all-tf.data pipeline) destroying the iterator blocked process exit for
~48 s at 100% CPU, TF's iterator resource waiting on a thread of its pool (seen in
one of two identical runs). The streaming iterator therefore starts a fixed set of
threads once: the two parallel maps and the prefetch, with tf.data autotuning off
(no optimisation thread) and the TFDS records read sequentially, because the epoch
flat_map re-creates the records' iterator every epoch and TFDS's default reader
would start new threads each time (parallel interleave and parse, prefetch).
Reading encoded bytes is cheap; decoding, the expensive part, runs in parallel.
"""

from __future__ import annotations

import itertools
import math
import os
from typing import Callable, Iterator
import warnings

import ml_collections
import numpy as np
import tensorflow_datasets as tfds

from jaxgan.data import folder
from jaxgan.data import pipeline
from jaxgan.data._tf import tf

_SPLIT = "train"

# Decoded uint8 bytes of one process's shard up to which a fixed-shape dataset is
# held in memory (cifar10's 150 MB fits with room; celeb_a's 19 GB does not).
IN_MEMORY_MAX_BYTES = 2**30
# Examples decoded per tf.data batch while loading a dataset into memory.
_LOAD_CHUNK = 8192
# Streaming: parallel decode calls and items prefetched. Fixed rather than tf.data
# AUTOTUNE, whose optimisation thread an iterator must join when destroyed.
_PARALLEL_CALLS = os.cpu_count() or 1
_PREFETCH_ITEMS = 2
# TFDS reading without threads, for the streaming path (see the module docstring).
_SEQUENTIAL_READ = dict(num_parallel_calls_for_interleave_files=None,
                        num_parallel_calls_for_decode=None, skip_prefetch=True)


def _fixed_threads() -> tf.data.Options:
  """Options for our pipelines: deterministic order, no autotuning thread."""
  options = tf.data.Options()
  options.autotune.enabled = False
  options.deterministic = True  # item k depends on (seed, k) only
  return options


def _read_config(**fields) -> tfds.ReadConfig:
  """tfds.ReadConfig whose None parallelism stays None (sequential tf.data ops).

  ReadConfig's constructor turns num_parallel_calls_for_decode=None into AUTOTUNE
  (a parallel map with its own thread); assigning after construction keeps None.
  """
  config = tfds.ReadConfig(**fields)
  for name, value in fields.items():
    setattr(config, name, value)
  return config


# --- shared maths ------------------------------------------------------------------


def crop_resize(images: tf.Tensor, image_size: int) -> tf.Tensor:
  """uint8 [..., h, w, c] (one image or a batch) -> float32 [..., S, S, c], 0..255.

  Non-square images are centre-cropped to a square first (CelebA's usual
  treatment), then resized with antialiasing, so downscaling averages rather than
  aliases. Images already at image_size are only cast.
  """
  shape = tf.shape(images)
  height, width = shape[-3], shape[-2]
  side = tf.minimum(height, width)
  images = tf.image.crop_to_bounding_box(images, (height - side) // 2,
                                         (width - side) // 2, side, side)
  images = tf.cast(images, tf.float32)
  return tf.cond(
      tf.equal(side, image_size), lambda: images,
      lambda: tf.image.resize(images, [image_size, image_size], antialias=True))


def to_unit_range(images: tf.Tensor) -> tf.Tensor:
  """0..255 (any dtype) -> float32 [-1, 1]."""
  # Bilinear weights are non-negative, so this clip only guards float rounding.
  return tf.clip_by_value(tf.cast(images, tf.float32) / 127.5 - 1.0, -1.0, 1.0)


def to_model_input(image: tf.Tensor, image_size: int, num_channels: int) -> tf.Tensor:
  """uint8 [h, w, c] -> float32 [image_size, image_size, c] in [-1, 1]."""
  image = to_unit_range(crop_resize(image, image_size))
  return tf.ensure_shape(image, [image_size, image_size, num_channels])


def _uint8_to_unit_range(images: np.ndarray) -> np.ndarray:
  """numpy form of `to_unit_range` for uint8 (same float32 operations, no clip needed)."""
  return images.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


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


# --- TFDS --------------------------------------------------------------------------


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
  return tfds.builder(name, data_dir=data_dir or None)


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


def fits_in_memory(image_shape: tuple[int | None, ...], num_examples: int) -> bool:
  """Whether `num_examples` decoded uint8 images of `image_shape` go in memory."""
  if any(d is None for d in image_shape):
    return False  # sizes vary (tf_flowers): decoded size unknown before decoding
  return num_examples * math.prod(image_shape) <= IN_MEMORY_MAX_BYTES


# --- in memory ---------------------------------------------------------------------


def _decode_all(records: tf.data.Dataset, decode: Callable[[tf.Tensor], tf.Tensor],
                name: str, where: str) -> np.ndarray:
  """Every encoded image of `records`, decoded in parallel: uint8 [N, h, w, c]."""
  ds = records.map(decode, num_parallel_calls=_PARALLEL_CALLS).batch(_LOAD_CHUNK)
  chunks = list(tfds.as_numpy(ds.with_options(_fixed_threads())))  # one finite pass
  if not chunks:
    raise ValueError(f"dataset {name!r} has no training examples for {where}")
  return np.concatenate(chunks)


def in_memory_stream(images: np.ndarray, *, seed: int, n_critic: int, batch_size: int,
                     start: int, image_size: int,
                     num_local_devices: int | None) -> Iterator[np.ndarray]:
  """Items from decoded uint8 `images` [N, h, w, c], from item `start` on.

  Epoch e is `default_rng([seed, e]).permutation(N)`; item k is examples
  [k*E, (k+1)*E) of the endless stream of epochs (E = n_critic * batch_size).
  """
  num = len(images)
  per_item = n_critic * batch_size
  native = images.shape[1] == images.shape[2] == image_size
  permutations: dict[int, np.ndarray] = {}

  def permutation(epoch: int) -> np.ndarray:
    if epoch not in permutations:
      if len(permutations) > 2:
        permutations.pop(min(permutations))
      permutations[epoch] = np.random.default_rng([seed, epoch]).permutation(num)
    return permutations[epoch]

  for k in itertools.count(start):
    epochs, offsets = np.divmod(np.arange(k * per_item, (k + 1) * per_item), num)
    chosen = np.empty(per_item, np.int64)
    for epoch in np.unique(epochs):
      mask = epochs == epoch
      chosen[mask] = permutation(int(epoch))[offsets[mask]]
    batch = images[chosen]
    if native:
      batch = _uint8_to_unit_range(batch)
    else:
      batch = to_unit_range(crop_resize(batch, image_size)).numpy()
    item = batch.reshape(n_critic, batch_size, *batch.shape[1:])
    yield item if num_local_devices is None else pipeline.split_for_devices(
        item, num_local_devices)


# --- streaming ---------------------------------------------------------------------


def _epoch_seed(seed: int, epoch: tf.Tensor) -> tf.Tensor:
  """A distinct int64 shuffle seed per (seed, epoch) for seed, epoch < 2**31."""
  return tf.constant(seed % 2**31, tf.int64) * 2**31 + epoch


def epoch_stream(records: tf.data.Dataset, num_records: int, *, seed: int,
                 shuffle_buffer: int, start: int) -> tf.data.Dataset:
  """Endless stream of `records` from example `start` on, reshuffled every epoch.

  Epoch e is `records` shuffled with a seed fixed by (seed, e), so example k of the
  stream is a function of k alone and a stream built with `start=k` continues an
  uninterrupted one exactly. `records` is re-iterated every epoch: it must not
  start threads (see the module docstring).
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


def streamed_items(records: tf.data.Dataset, num_records: int, *,
                   decode: Callable[[tf.Tensor], tf.Tensor],
                   source_shape: tuple[int | None, ...], seed: int, shuffle_buffer: int,
                   n_critic: int, batch_size: int, start: int, image_size: int,
                   num_channels: int, num_local_devices: int | None
                   ) -> Iterator[np.ndarray]:
  """Items from encoded `records` (see the module docstring), from item `start` on.

  `source_shape` is the decoded image shape, None where it varies: fixed-size
  images are cropped and resized a whole batch at a time.
  """
  per_item = n_critic * batch_size
  fixed_size = None not in source_shape[:2]

  def decode_one(record):
    image = decode(record)
    if fixed_size:
      return tf.ensure_shape(image, source_shape)
    return crop_resize(image, image_size)

  def finish(batch):
    if fixed_size:
      batch = crop_resize(batch, image_size)
    batch = tf.ensure_shape(to_unit_range(batch),
                            [per_item, image_size, image_size, num_channels])
    return split_for_devices(batch, n_critic, num_local_devices)

  ds = epoch_stream(records, num_records, seed=seed, shuffle_buffer=shuffle_buffer,
                    start=start * per_item)
  ds = ds.map(decode_one, num_parallel_calls=_PARALLEL_CALLS)
  ds = ds.batch(per_item, drop_remainder=True)
  ds = ds.map(finish, num_parallel_calls=_PARALLEL_CALLS)
  ds = ds.prefetch(_PREFETCH_ITEMS)
  return iter(tfds.as_numpy(ds.with_options(_fixed_threads())))


# --- sources -----------------------------------------------------------------------


def tfds_records(builder: tfds.core.DatasetBuilder, name: str,
                 split) -> tuple[tf.data.Dataset, int]:
  """(encoded images of `split`, their count), read by TFDS without threads.

  Raises:
    DatasetNotPreparedError: the dataset is not on disk.
  """
  with warnings.catch_warnings():  # TFDS passes `deterministic` to a sequential interleave
    warnings.filterwarnings("ignore", message="The `deterministic` argument has no effect")
    records = _as_dataset(builder, name, split=split, shuffle_files=False,
                          decoders={"image": tfds.decode.SkipDecoding()},
                          read_config=_read_config(**_SEQUENTIAL_READ))
  records = records.map(lambda ex: ex["image"])
  num_records = int(records.cardinality())
  if num_records < 0:  # cardinality unknown: fall back on the split's metadata
    num_records = builder.info.splits[split].num_examples
  return records, num_records


def tfds_items(cfg: ml_collections.ConfigDict, *, seed: int, process_index: int,
               process_count: int, **kwargs) -> Iterator[np.ndarray]:
  """Items of a TFDS dataset (digits included): in memory if it fits, else streamed."""
  builder = tfds_builder(cfg.name, cfg.data_dir)
  split = tfds.split_for_jax_process(_SPLIT, process_index=process_index,
                                     process_count=process_count)
  records, num_records = tfds_records(builder, cfg.name, split)
  feature = builder.info.features["image"]
  shape = tuple(feature.shape)
  if fits_in_memory(shape, num_records):
    images = _decode_all(records, feature.decode_example, cfg.name,
                         f"process {process_index} of {process_count}")
    return in_memory_stream(images, seed=seed, image_size=cfg.image_size, **kwargs)
  return streamed_items(records, num_records, decode=feature.decode_example,
                        source_shape=shape, seed=seed,
                        shuffle_buffer=cfg.shuffle_buffer, image_size=cfg.image_size,
                        num_channels=pipeline.channels(cfg.name), **kwargs)


def _decode_file(path: tf.Tensor) -> tf.Tensor:
  return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


def folder_items(cfg: ml_collections.ConfigDict, *, seed: int, process_index: int,
                 process_count: int, **kwargs) -> Iterator[np.ndarray]:
  """Items of an image folder, streamed: this process reads files i::process_count."""
  files = folder.list_images(cfg.path)
  shard = files[process_index::process_count]
  if not shard:
    raise ValueError(f"dataset.path {cfg.path!r} has {len(files)} image(s), fewer "
                     f"than the {process_count} processes reading it")
  # File names are tiny, so whole epochs are shuffled rather than a window.
  items = streamed_items(tf.data.Dataset.from_tensor_slices(list(shard)), len(shard),
                         decode=_decode_file, source_shape=(None, None, 3), seed=seed,
                         shuffle_buffer=len(shard), image_size=cfg.image_size,
                         num_channels=3, **kwargs)
  return _name_undecodable_files(items, cfg.path)


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


def image_items(cfg: ml_collections.ConfigDict, *, seed: int, process_index: int,
                process_count: int, batch_size: int, n_critic: int, start: int,
                num_local_devices: int | None) -> Iterator[np.ndarray]:
  """Items of an image dataset from item `start` on (see `pipeline.make_iterator`).

  Everything that can fail on the data (dataset not prepared, bad folder) fails
  here, when the iterator is built, not at the first item.
  """
  if cfg.shuffle_buffer < 1:
    raise ValueError(f"dataset.shuffle_buffer must be >= 1, got {cfg.shuffle_buffer}")
  make = folder_items if cfg.name == "folder" else tfds_items
  return make(cfg, seed=seed, process_index=process_index, process_count=process_count,
              batch_size=batch_size, n_critic=n_critic, start=start,
              num_local_devices=num_local_devices)
