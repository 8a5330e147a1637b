"""Items streamed through tf.data: TFDS datasets too large for memory, image folders.

Every source becomes the same thing, a dataset of *encoded* records for this
process (its shard of the training data: encoded images or file names, with their
labels if asked) plus a decode function; one pipeline then shuffles, decodes,
crops / resizes and batches it:

  records (encoded, this process's shard)
    -> endless epochs, epoch e shuffled with a seed derived from (seed, e)
    -> decode -> centre crop to a square -> resize to image_size -> [-1, 1]
    -> batch n_critic * B -> [n_critic, B, ...] (labels [n_critic, B])
    -> prefetch -> numpy

Why epoch-seeded shuffles: a resumed iterator knows which epoch and which example
within it to start from (`divmod(examples consumed, shard size)`), so resuming skips
at most one epoch of encoded records instead of replaying the whole run. Skipping
happens before decoding: it reads bytes.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

import ml_collections
import tensorflow_datasets as tfds

from jaxgan.data import folder
from jaxgan.data import preprocess
from jaxgan.data import registry
from jaxgan.data import tfds_source
from jaxgan.data._tf import tf


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
  start_epoch, offset = divmod(start, num_records)
  offset = tf.constant(offset, tf.int64)

  def one_epoch(epoch):
    shuffled = records.shuffle(shuffle_buffer, seed=_epoch_seed(seed, epoch),
                               reshuffle_each_iteration=False)
    return shuffled.skip(tf.where(epoch == start_epoch, offset, 0))

  return tf.data.Dataset.counter(start_epoch).flat_map(one_epoch)


@dataclasses.dataclass(frozen=True)
class Source:
  """This process's encoded records and how to decode one.

  records yields `encoded` or, with labels, `(encoded, label)`.
  """
  records: tf.data.Dataset
  num_records: int
  decode: Callable[[tf.Tensor], tf.Tensor]  # encoded -> uint8 [h, w, c]
  shuffle_buffer: int


def _tfds_records(cfg: ml_collections.ConfigDict, *, with_labels: bool,
                  process_index: int, process_count: int) -> Source:
  """The train split's encoded images (and labels) of this process's shard."""
  entry = registry.info(cfg.name, registry.TFDS)
  builder, ds, num_records = tfds_source.shard(
      cfg.name, cfg.data_dir, entry.train_split, process_index=process_index,
      process_count=process_count, decoders={"image": tfds.decode.SkipDecoding()})

  def record(example):
    if with_labels:
      return example["image"], example[tfds_source.LABEL]
    return example["image"]

  return Source(ds.map(record), num_records, builder.info.features["image"].decode_example,
                cfg.shuffle_buffer)


def _folder_records(cfg: ml_collections.ConfigDict, *, with_labels: bool,
                    process_index: int, process_count: int) -> Source:
  """The file names (and class ids) of this process's shard of the folder."""
  images = folder.read_folder(cfg.path)
  files = list(images.files[process_index::process_count])
  if not files:
    raise ValueError(f"dataset.path {cfg.path!r} has {len(images.files)} image(s), "
                     f"fewer than the {process_count} processes reading it")
  if with_labels:
    labels = images.labels[process_index::process_count]
    records = tf.data.Dataset.from_tensor_slices((files, labels))
  else:
    records = tf.data.Dataset.from_tensor_slices(files)

  def decode(path):
    # An all-grey folder decodes to one exact channel; any colour image to RGB
    # (to_model_input then converts, as it converts TFDS images).
    return preprocess.decode_file(path, images.channels)

  # File names are tiny, so shuffle whole epochs instead of a window.
  return Source(records, len(files), decode, len(files))


def items(cfg: ml_collections.ConfigDict, *, channels: int, with_labels: bool,
          seed: int, process_index: int, process_count: int, batch_size: int,
          n_critic: int, start: int) -> Iterator:
  """Streamed items from item `start` on (see `pipeline.make_iterator`)."""
  is_folder = registry.info(cfg.name).kind == registry.FOLDER
  if is_folder:
    source = _folder_records(cfg, with_labels=with_labels, process_index=process_index,
                             process_count=process_count)
  else:
    source = _tfds_records(cfg, with_labels=with_labels, process_index=process_index,
                           process_count=process_count)
  if source.num_records < 1:
    raise ValueError(f"dataset {cfg.name!r} has no training examples for process "
                     f"{process_index} of {process_count}")
  examples_per_item = n_critic * batch_size
  ds = epoch_stream(source.records, source.num_records, seed=seed,
                    shuffle_buffer=source.shuffle_buffer, start=start * examples_per_item)

  def to_input(encoded):
    return preprocess.to_model_input(source.decode(encoded), cfg.image_size, channels)

  def to_labelled_input(encoded, label):
    return to_input(encoded), label

  def to_item(images, labels=None):
    images = tf.reshape(images, [n_critic, batch_size, *images.shape[1:]])
    if labels is None:
      return images
    return images, tf.reshape(tf.cast(labels, tf.int32), [n_critic, batch_size])

  ds = ds.map(to_labelled_input if with_labels else to_input,
              num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.batch(examples_per_item, drop_remainder=True).map(to_item)
  ds = ds.prefetch(tf.data.AUTOTUNE)
  stream = iter(tfds.as_numpy(ds))
  return _name_undecodable_files(stream, cfg.path) if is_folder else stream


def _name_undecodable_files(stream: Iterator, path: str) -> Iterator:
  """Passes items through; a TF decode failure becomes an error naming the files."""
  try:
    yield from stream
  except tf.errors.InvalidArgumentError as e:
    raise folder.decode_error(folder.read_folder(path).files, path, e.message) from None
