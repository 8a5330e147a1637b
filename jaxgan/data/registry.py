"""The one table of datasets: what each name is and how it is read (pure Python).

Every other place (the recipes, the data pipeline, the evaluation classifier, the
config validation) reads this table, so adding a dataset is one entry here plus,
for a new kind of source, the code that reads it. This module imports neither
TensorFlow nor TFDS: configs and validation use it at no cost.
"""

from __future__ import annotations

import dataclasses

# Kinds of source.
TOY = "toy"        # 2-D points generated in code (jaxgan.data.toy)
TFDS = "tfds"      # a TFDS dataset (digits is a local builder, jaxgan.data.digits)
FOLDER = "folder"  # a directory of JPEG/PNG images (jaxgan.data.folder)



class DatasetNotPreparedError(ValueError):
  """A TFDS dataset is not on disk and this machine cannot download it."""


# Every TEST_EVERY-th example is held out for evaluation where a dataset has no
# test split of its own: digits (in sklearn's order, cycling through the classes) and
# a labelled folder (within each class, in sorted file order).
TEST_EVERY = 6


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What a dataset is.

  Attributes:
    kind: TOY, TFDS or FOLDER.
    channels: 1 (grey) or 3 (colour); None for a folder, where the images decide
      (1 if every image is grey, else 3); 0 for toy data (points, not images).
    image_size: default square side the recipes train at; 0 for toy data.
    labelled: has class labels; None for a folder, where the layout decides (one
      sub-folder per class).
    in_memory: decoded once into memory and served by numpy; else streamed
      through tf.data.
    tfds_name: the TFDS builder name (TFDS kind only).
    train_split: the TFDS split the GAN trains on (TFDS kind only).
    test_split: the held-out TFDS split the evaluation classifier is scored on;
      None if the dataset has none (TFDS kind only).
    local_builder: built from data shipped with a package, prepared offline on
      first use (digits) rather than by `tfds build`.
  """

  kind: str
  channels: int | None
  image_size: int
  labelled: bool | None
  in_memory: bool = False
  tfds_name: str | None = None
  train_split: str | None = None
  test_split: str | None = None
  local_builder: bool = False


def _tfds(name: str, *, channels: int, image_size: int, labelled: bool,
          in_memory: bool, test_split: str | None,
          local_builder: bool = False) -> DatasetInfo:
  return DatasetInfo(kind=TFDS, channels=channels, image_size=image_size,
                     labelled=labelled, in_memory=in_memory, tfds_name=name,
                     train_split="train", test_split=test_split,
                     local_builder=local_builder)


_TOY = DatasetInfo(kind=TOY, channels=0, image_size=0, labelled=False)

# In memory: fixed-size datasets small enough to hold decoded (MNIST 188 MB, CIFAR-10
# 614 MB as float32); they skip tf.data's per-example work, which made the digits
# stream barely faster than the step consumed it (benchmarks/input_pipeline.py).
# image_size: the native (or customary) training resolution.
DATASETS: dict[str, DatasetInfo] = {
    # scikit-learn's 8x8 digits, used as is.
    "digits": _tfds("digits", channels=1, image_size=8, labelled=True, in_memory=True,
                    test_split="test", local_builder=True),
    "mnist": _tfds("mnist", channels=1, image_size=28, labelled=True, in_memory=True,
                   test_split="test"),
    "fashion_mnist": _tfds("fashion_mnist", channels=1, image_size=28, labelled=True,
                           in_memory=True, test_split="test"),
    "cifar10": _tfds("cifar10", channels=3, image_size=32, labelled=True, in_memory=True,
                     test_split="test"),
    # Resized; 64x64 is the DCGAN / WGAN-GP "64x64" setting. TFDS has only "train".
    "tf_flowers": _tfds("tf_flowers", channels=3, image_size=64, labelled=True,
                        in_memory=False, test_split=None),
    # Centre crop + resize, as in DCGAN's CelebA runs; attributes, no class label.
    "celeb_a": _tfds("celeb_a", channels=3, image_size=64, labelled=False,
                     in_memory=False, test_split=None),
    "folder": DatasetInfo(kind=FOLDER, channels=None, image_size=32, labelled=None),
    "8gaussians": _TOY,
    "25gaussians": _TOY,
    "swissroll": _TOY,
}

NAMES = tuple(DATASETS)


def names(kind: str | None = None) -> tuple[str, ...]:
  """Dataset names in table order; only those of `kind` if given."""
  return tuple(n for n, i in DATASETS.items() if kind is None or i.kind == kind)


def info(name: str, kind: str | None = None) -> DatasetInfo:
  """The entry of dataset `name`.

  Args:
    name: a dataset name.
    kind: if given, `name` must be a dataset of this kind.

  Raises:
    ValueError: naming `name` and listing the allowed names (of `kind`).
  """
  allowed = names(kind)
  if name not in allowed:
    what = "dataset" if kind is None else f"{kind} dataset"
    raise ValueError(f"unknown {what} {name!r}; allowed: {', '.join(allowed)}")
  return DATASETS[name]
