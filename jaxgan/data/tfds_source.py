"""TFDS datasets: the builder of a registry name and "not on disk" as one clear error.

digits is a local builder (jaxgan.data.digits) prepared offline on first use; every
other TFDS dataset must already be prepared in dataset.data_dir (this machine may
have no network), else DatasetNotPreparedError says where it looked and how to
prepare it.
"""

from __future__ import annotations

import contextlib
import io
import logging

import tensorflow_datasets as tfds

from jaxgan.data import registry
from jaxgan.data._tf import tf

logger = logging.getLogger("jaxgan")

LABEL = "label"  # the class-label feature of every labelled TFDS dataset here


def builder(name: str, data_dir: str) -> tfds.core.DatasetBuilder:
  """The builder of dataset `name`; a local builder is prepared on first use (offline).

  Whether a TFDS dataset is on disk is checked by `shard`, before any data is
  read, so a run without it stops at once with DatasetNotPreparedError.
  """
  entry = registry.info(name, registry.TFDS)
  if entry.local_builder:
    from jaxgan.data import digits  # pylint: disable=g-import-not-at-top
    local = digits.Digits(data_dir=data_dir or None)
    if not local.is_prepared():
      # Quick: sklearn ships the data. TFDS's own lines (a "download" of
      # "Unknown size", progress bars) would only confuse: say what happens instead.
      logger.info("preparing the digits dataset in %s (first use; no download)",
                  local.data_dir_root)
      tfds.disable_progress_bar()
      with contextlib.redirect_stdout(io.StringIO()):
        local.download_and_prepare()
    return local
  return tfds.builder(entry.tfds_name, data_dir=data_dir or None)


def _not_prepared_message(tfds_builder: tfds.core.DatasetBuilder, name: str) -> str:
  root = tfds_builder.data_dir_root
  return (
      f"TFDS dataset {name!r} is not prepared in data_dir {str(root)!r} (looked for "
      f"{tfds_builder.data_dir}) and this machine cannot download it. Prepare it "
      f"offline: on a machine with network access run `tfds build {name} "
      f"--data_dir=/tmp/tfds` and copy /tmp/tfds/{name} to {root}/{name}; if the "
      f"dataset needs a manual download, put its files in {root}/downloads/manual "
      f"and run `tfds build {name} --data_dir={root}`. Or point dataset.data_dir "
      "at a directory that holds it.")


def shard(name: str, data_dir: str, split: str, *, process_index: int,
          process_count: int, **kwargs) -> tuple[tfds.core.DatasetBuilder, tf.data.Dataset, int]:
  """(builder, this process's shard of `split` in stored order, its length).

  kwargs go to as_dataset. "Not on disk" becomes DatasetNotPreparedError. Asking
  as_dataset (rather than is_prepared) keeps tfds.testing.mock_data working: it
  replaces as_dataset and leaves no files on disk.
  """
  tfds_builder = builder(name, data_dir)
  split = tfds.split_for_jax_process(split, process_index=process_index,
                                     process_count=process_count)
  try:
    ds = tfds_builder.as_dataset(split=split, shuffle_files=False, **kwargs)
  except AssertionError as e:
    if "could not find data" not in str(e):
      raise
    raise registry.DatasetNotPreparedError(_not_prepared_message(tfds_builder, name)) from None
  length = int(ds.cardinality())
  if length < 0:  # cardinality unknown: fall back on the split's metadata
    length = tfds_builder.info.splits[split].num_examples
  return tfds_builder, ds, length


def label_names(name: str, data_dir: str) -> tuple[str, ...]:
  """The class names of a labelled TFDS dataset, index k naming label k."""
  return tuple(builder(name, data_dir).info.features[LABEL].names)
