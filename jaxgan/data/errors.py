"""Errors of the data package that callers catch by type (no TensorFlow here)."""


class DatasetNotPreparedError(ValueError):
  """A TFDS dataset is not on disk and this machine cannot download it."""
