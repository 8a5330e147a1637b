"""What a configured dataset yields: the shape of an example, its channels, its labels.

Reads the registry and, for a folder, the folder itself (its images decide the
channels and its layout the labels). No TensorFlow here, except `class_names` of
a TFDS dataset, which reads the builder's metadata.
"""

from __future__ import annotations

import ml_collections

from jaxgan.data import folder
from jaxgan.data import registry


def channels(dataset_cfg: ml_collections.ConfigDict) -> int:
  """Image channels the data is served with: 1 or 3 (0 for toy data).

  `dataset.channels` if set, else the registry's; a folder's images decide (a scan).
  """
  if dataset_cfg.channels:
    return dataset_cfg.channels
  entry = registry.info(dataset_cfg.name)
  if entry.channels is None:
    return folder.read_folder(dataset_cfg.path).channels
  return entry.channels


def data_shape(dataset_cfg: ml_collections.ConfigDict) -> tuple[int, ...]:
  """Shape of one example: (image_size, image_size, C) for images, (2,) for toy.

  For a folder with dataset.channels=0 this scans the folder (its images decide
  C), so it touches the disk and raises if the folder is unusable.
  """
  if registry.info(dataset_cfg.name).kind == registry.TOY:
    return (2,)
  size = dataset_cfg.image_size
  return (size, size, channels(dataset_cfg))


def require_labels(dataset_cfg: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the dataset and why, unless it has class labels.

  For a folder this scans the folder (its layout decides).
  """
  name = dataset_cfg.name
  entry = registry.info(name)
  if entry.kind == registry.FOLDER:
    images = folder.read_folder(dataset_cfg.path)
    if images.labels is None:
      raise ValueError(f"dataset 'folder' at {dataset_cfg.path!r} has no class labels: "
                       f"{images.unlabelled_reason}")
  elif not entry.labelled:
    why = ("it is 2-D points" if entry.kind == registry.TOY
           else "its TFDS features have no 'label'")
    labelled = ", ".join(n for n, i in registry.DATASETS.items() if i.labelled is not False)
    raise ValueError(f"dataset {name!r} has no class labels ({why}); labelled: "
                     f"{labelled} (a folder with one sub-folder per class)")


def class_names(dataset_cfg: ml_collections.ConfigDict) -> tuple[str, ...]:
  """Names of the classes, index k naming label k (e.g. to write into the workdir).

  Folder: the sorted class sub-folder names. TFDS: the `label` feature's names from
  the dataset's metadata (imports TensorFlow; digits is prepared if it is not yet).

  Raises:
    ValueError: if the dataset has no class labels (see require_labels).
    DatasetNotPreparedError: a TFDS dataset is not on disk.
  """
  require_labels(dataset_cfg)
  if registry.info(dataset_cfg.name).kind == registry.FOLDER:
    return folder.read_folder(dataset_cfg.path).class_names
  from jaxgan.data import tfds_source  # pylint: disable=g-import-not-at-top  (TF)
  return tfds_source.label_names(dataset_cfg.name, dataset_cfg.data_dir)
