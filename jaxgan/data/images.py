"""Image datasets through tf.data / TFDS: digits, TFDS datasets and image folders.

Every source becomes the same thing, a dataset of *encoded* images for this process
(its shard of the train split) plus a decode function; one pipeline then shuffles,
decodes, crops / resizes and batches it:

  records (encoded, this process's shard)
    -> endless epochs, epoch e shuffled with a seed derived from (seed, e)
    -> decode -> centre crop to a square -> resize to image_size -> [-1, 1]
    -> batch n_critic * B -> [n_critic, B, ...] or [D, n_critic, B/D, ...]
    -> prefetch -> numpy

Why epoch-seeded shuffles: a resumed iterator knows which epoch and which example
within it to start from (`divmod(examples consumed, shard size)`), so resuming skips
at most one epoch of encoded records instead of replaying the whole run. Skipping
happens before decoding, so it only reads bytes.
"""

from __future__ import annotations

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
  """A prepared builder for `name`; digits is prepared on first use (offline).

  Raises:
    DatasetNotPreparedError: a TFDS dataset is not on disk. Checked before any
      data is read, so a run stops at once.
  """
  if name == "digits":
    from jaxgan.data import digits  # pylint: disable=g-import-not-at-top
    builder = digits.Digits(data_dir=data_dir or None)
    if not builder.is_prepared():
      builder.download_and_prepare()  # a second or so: sklearn ships the data
    return builder
  builder = tfds.builder(name, data_dir=data_dir or None)
  if not builder.is_prepared():
    raise pipeline.DatasetNotPreparedError(_not_prepared_message(builder, name))
  return builder


Source = tuple[tf.data.Dataset, int, Callable[[tf.Tensor], tf.Tensor], int]


def tfds_source(cfg: ml_collections.ConfigDict, *, process_index: int,
                process_count: int) -> Source:
  """(encoded images of this process's shard, their count, decode, shuffle buffer)."""
  builder = tfds_builder(cfg.name, cfg.data_dir)
  split = tfds.split_for_jax_process(_SPLIT, process_index=process_index,
                                     process_count=process_count)
  ds = builder.as_dataset(split=split, shuffle_files=False,
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


def image_items(cfg: ml_collections.ConfigDict, *, seed: int, process_index: int,
                process_count: int, batch_size: int, n_critic: int, start: int,
                num_local_devices: int | None) -> Iterator[np.ndarray]:
  """Items of an image dataset from item `start` on (see `pipeline.make_iterator`)."""
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
  return iter(tfds.as_numpy(ds))
