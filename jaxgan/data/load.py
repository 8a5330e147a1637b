"""The one in-memory image loader: a split of a TFDS dataset or of a labelled folder.

`load_split` reads a split through tf.data in chunks, decodes it and preprocesses
every image exactly like the streamed training data (`preprocess.to_model_input`),
and returns numpy arrays. The in-memory training path (digits, mnist,
fashion_mnist, cifar10) and the evaluation classifier both load through it;
`image_chunks` streams a whole split the same way (the Inception reference).
"""

from __future__ import annotations

from typing import Iterator

import ml_collections
import numpy as np
import tensorflow_datasets as tfds

from jaxgan.data import folder
from jaxgan.data import preprocess
from jaxgan.data import properties
from jaxgan.data import registry
from jaxgan.data import tfds_source
from jaxgan.data._tf import tf

# Examples per tf.data batch while loading: finite iteration in chunks rather than
# batch_size=-1, which tfds' mock data cannot do.
_CHUNK = 8192


def load_split(dataset_cfg: ml_collections.ConfigDict, split: str, *,
               with_labels: bool = False, limit: int | None = None,
               process_index: int = 0,
               process_count: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
  """One split, decoded and preprocessed like training data, held in memory.

  Args:
    dataset_cfg: the `dataset` config block (name, data_dir, path, image_size,
      channels).
    split: a TFDS split name ("train", "test", ...). For a folder, "train" or
      "test": its evaluation split (every 6th image of each class held out as
      "test"; the GAN itself trains on every image).
    with_labels: also return the class labels.
    limit: if given, only the first `limit` examples of this process's shard, in
      the split's stored order (a folder's: see folder.evaluation_split).
    process_index: this process's index; it loads only its own shard.
    process_count: number of processes sharing the split.

  Returns:
    (images float32 [N, image_size, image_size, C] in [-1, 1], labels int32 [N] or
    None if not with_labels).

  Raises:
    ValueError: toy or unlabelled data asked for labels (a folder is always asked:
      its splits come from its classes), an empty shard, an undecodable file.
    DatasetNotPreparedError: a TFDS dataset is not on disk (a ValueError).
  """
  name = dataset_cfg.name
  entry = registry.info(name)
  if entry.kind == registry.TOY:
    raise ValueError(f"dataset {name!r} is generated 2-D points; there is no split "
                     "to load")
  if entry.kind == registry.FOLDER:  # evaluation_split needs (and checks) labels
    contents = folder.read_folder(dataset_cfg.path)
    files, labels = folder.evaluation_split(contents, split)
    files = files[process_index::process_count][:limit]
    labels = labels[process_index::process_count][:limit]
    images = _concatenate(_folder_chunks(dataset_cfg, contents, files, _CHUNK))
  else:
    if with_labels:
      properties.require_labels(dataset_cfg)
    ds = _tfds_dataset(dataset_cfg, split, with_labels=with_labels, limit=limit,
                       process_index=process_index, process_count=process_count)
    chunks = list(tfds.as_numpy(ds.batch(_CHUNK)))
    if with_labels:
      images = _concatenate(c[0] for c in chunks)
      labels = _concatenate(c[1] for c in chunks).astype(np.int32)
    else:
      images = _concatenate(chunks)
  if images is None:
    raise ValueError(f"dataset {name!r} has no {split!r} examples for process "
                     f"{process_index} of {process_count}")
  return images, (labels if with_labels else None)


def image_chunks(dataset_cfg: ml_collections.ConfigDict, split: str = "train", *,
                 chunk: int = 1000) -> Iterator[np.ndarray]:
  """float32 [n <= chunk, S, S, C] chunks of every image of a split, streamed.

  Preprocessed exactly like training data, in the split's stored order; a folder
  has one split, "train": every usable image under dataset.path, sorted (labelled
  or not). For statistics over a whole split (the Inception reference) without
  holding it in memory.
  """
  if registry.info(dataset_cfg.name).kind == registry.FOLDER:
    if split != "train":
      raise ValueError(f"an image folder has one split, 'train'; got {split!r}")
    contents = folder.read_folder(dataset_cfg.path)
    yield from _folder_chunks(dataset_cfg, contents, contents.files, chunk)
    return
  yield from tfds.as_numpy(_tfds_dataset(dataset_cfg, split, with_labels=False).batch(chunk))


def _tfds_dataset(dataset_cfg, split: str, *, with_labels: bool, limit: int | None = None,
                  process_index: int = 0, process_count: int = 1) -> tf.data.Dataset:
  """This process's shard of a TFDS split, preprocessed like training data."""
  name = dataset_cfg.name
  size, channels = dataset_cfg.image_size, properties.channels(dataset_cfg)
  _, ds, _ = tfds_source.shard(name, dataset_cfg.data_dir, split,
                               process_index=process_index, process_count=process_count)
  if limit is not None:
    ds = ds.take(limit)

  def load_example(example):
    image = preprocess.to_model_input(example["image"], size, channels)
    return (image, example[tfds_source.LABEL]) if with_labels else image

  return ds.map(load_example, num_parallel_calls=tf.data.AUTOTUNE)


def _folder_chunks(dataset_cfg, contents, files, chunk: int) -> Iterator[np.ndarray]:
  """`files` of a folder, decoded as the stream decodes them, in chunks."""
  size, channels = dataset_cfg.image_size, properties.channels(dataset_cfg)

  def load_file(path):  # decoded as the stream decodes (stream._folder_records)
    image = preprocess.decode_file(path, contents.channels)
    return preprocess.to_model_input(image, size, channels)

  ds = tf.data.Dataset.from_tensor_slices(list(files)).map(
      load_file, num_parallel_calls=tf.data.AUTOTUNE)
  try:
    yield from tfds.as_numpy(ds.batch(chunk))
  except tf.errors.InvalidArgumentError as e:
    raise folder.decode_error(files, dataset_cfg.path, e.message,
                              when="while loading") from None


def _concatenate(chunks) -> np.ndarray | None:
  """The chunks as one array, or None if there are none."""
  chunks = list(chunks)
  return np.concatenate(chunks) if chunks else None
