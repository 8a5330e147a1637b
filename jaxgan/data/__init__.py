"""Real data for the trainer: offline digits, TFDS image datasets, image folders, toy 2D.

`make_iterator` (jaxgan.data.pipeline) is the trainer's iterator, `data_shape` and
`class_names` what the models need; `registry` is the one table of dataset names.
Importing this package does not import TensorFlow; building an image iterator or
loading a split does (and hides GPUs from it).
"""

from jaxgan.data import registry
from jaxgan.data.registry import DatasetNotPreparedError
from jaxgan.data.pipeline import DataIterator
from jaxgan.data.pipeline import make_iterator
from jaxgan.data.pipeline import make_iterators
from jaxgan.data.properties import class_names
from jaxgan.data.properties import data_shape
from jaxgan.data.properties import require_labels

__all__ = ["DataIterator", "DatasetNotPreparedError", "class_names", "data_shape",
           "make_iterator", "make_iterators", "registry", "require_labels"]
