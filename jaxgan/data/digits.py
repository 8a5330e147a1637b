"""A local TFDS builder over scikit-learn's bundled handwritten digits (offline).

`sklearn.datasets.load_digits` ships 1,797 real 8x8 grey images (values 0..16) inside
the scikit-learn wheel, so this dataset prepares without any download and gives a
machine with no network a real image dataset that goes through the same TFDS path as
mnist or cifar10. Preparing it writes ordinary TFRecords under `data_dir`.
"""

import numpy as np
from sklearn import datasets as sk_datasets
import tensorflow_datasets as tfds

from jaxgan.data import _tf  # noqa: F401  (hides GPUs before TFDS touches TF)
from jaxgan.data import registry

_MAX_VALUE = 16  # load_digits pixel range is 0..16


def to_uint8(images: np.ndarray) -> np.ndarray:
  """Maps sklearn's 0..16 pixel values to uint8 0..255 (round(v * 255 / 16))."""
  return np.round(np.asarray(images, np.float64) * 255.0 / _MAX_VALUE).astype(np.uint8)


def split_indices(num_examples: int, split: str) -> np.ndarray:
  """Indices (into sklearn's order) of the examples of `split` ("train" or "test")."""
  index = np.arange(num_examples)
  is_test = index % registry.TEST_EVERY == 0  # sklearn's order cycles the classes
  if split == "test":
    return index[is_test]
  if split == "train":
    return index[~is_test]
  raise ValueError(f"unknown digits split {split!r}; allowed: train, test")


class Digits(tfds.core.GeneratorBasedBuilder):
  """scikit-learn's handwritten digits as a TFDS dataset ("digits")."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "sklearn load_digits, every 6th example to test."}

  # Nothing is downloaded, so there are no URL checksums to load. Saying so here also
  # skips TFDS's lookup of this module's checksums file, which needs the
  # `importlib_resources` package (an etils[epath] extra this venv lacks).
  @tfds.core.utils.classproperty
  @classmethod
  def url_infos(cls):
    return None

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=("UCI optical handwritten digits as bundled with scikit-learn "
                     "(sklearn.datasets.load_digits): 8x8 grey images, 10 classes."),
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(8, 8, 1), dtype=np.uint8),
            "label": tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=("image", "label"),
        homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html",
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # the data ships with scikit-learn; nothing to download
    return {
        "train": self._generate_examples("train"),
        "test": self._generate_examples("test"),
    }

  def _generate_examples(self, split: str):
    digits = sk_datasets.load_digits()
    images = to_uint8(digits.images)[..., None]
    for i in split_indices(len(images), split):
      yield int(i), {"image": images[i], "label": int(digits.target[i])}
