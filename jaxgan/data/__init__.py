"""Real data for the trainer: offline digits, TFDS image datasets, image folders, toy 2D.

The trainer needs two things from here: `data_shape(config.dataset)` and
`make_iterator(config.dataset, ...)`, an endless, resumable iterator over
[n_critic, B, ...] float32 items (see `jaxgan.data.pipeline`). Importing this package
does not import TensorFlow; building an image iterator does (and hides GPUs from it).
"""

from jaxgan.data.pipeline import DATASETS
from jaxgan.data.pipeline import DataIterator
from jaxgan.data.pipeline import DatasetNotPreparedError
from jaxgan.data.pipeline import IMAGE_DATASETS
from jaxgan.data.pipeline import TOY_DATASETS
from jaxgan.data.pipeline import data_shape
from jaxgan.data.pipeline import make_iterator

__all__ = ["DATASETS", "IMAGE_DATASETS", "TOY_DATASETS", "DataIterator",
           "DatasetNotPreparedError", "data_shape", "make_iterator"]
