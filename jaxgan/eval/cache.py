"""One on-disk cache for evaluation: arrays and their metadata in one .npz.

The evaluation classifier's parameters, the Inception reference statistics and the
converted Inception weights are each one .npz whose metadata (a JSON string inside the
file) says what the arrays are, so the two can never disagree; `load_or_compute`
reuses a file only while its metadata repeats the key it is named by (`path`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Callable
from typing import Any

from flax import traverse_util
import numpy as np

from jaxgan import fileio

METADATA = "__metadata__"
# What an unusable cache file raises on reading or checking.
_UNUSABLE = (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile)


class CacheWarning(UserWarning):
  """A cached file could not be used and is being computed again."""


def path(cache_dir: str, stem: str, key: dict) -> str:
  """cache_dir/<stem>_<digest of key>.npz: a readable stem, the key's digest."""
  digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
  return os.path.join(os.path.expanduser(cache_dir), f"{stem}_{digest}.npz")


def flatten(tree) -> dict[str, np.ndarray]:
  """A nested dict of arrays as {"a/b/c": array}, the form `save` stores."""
  return {"/".join(k): np.asarray(v) for k, v in traverse_util.flatten_dict(tree).items()}


def unflatten(arrays: dict[str, Any]) -> dict:
  return traverse_util.unflatten_dict({tuple(k.split("/")): v for k, v in arrays.items()})


def check_arrays(arrays: dict, template, what: str) -> None:
  """ValueError unless `arrays` are `template`'s leaves (shape/dtype structs) by name,
  shape and dtype; `what` names the template in the message."""
  expected = {"/".join(k): v for k, v in traverse_util.flatten_dict(template).items()}
  if set(arrays) != set(expected):
    raise ValueError(f"its arrays do not name {what}'s variables (missing "
                     f"{sorted(set(expected) - set(arrays))[:5]}, unexpected "
                     f"{sorted(set(arrays) - set(expected))[:5]})")
  for name, leaf in expected.items():
    if arrays[name].shape != leaf.shape or arrays[name].dtype != leaf.dtype:
      raise ValueError(f"{name}: stored {arrays[name].dtype}{list(arrays[name].shape)}, "
                       f"expected {leaf.dtype}{list(leaf.shape)}")


def save(file: str, arrays: dict[str, Any], metadata: dict, *,
         json_copy: bool = False) -> None:
  """Writes arrays and metadata to one .npz (atomically); a .json copy is for people."""
  if METADATA in arrays:
    raise ValueError("an array name collides with the metadata key")
  text = json.dumps(metadata, sort_keys=True)
  fileio.save_npz_atomic(file, {**arrays, METADATA: np.asarray(text)})
  if json_copy:
    text = json.dumps(metadata, sort_keys=True, indent=2) + "\n"
    fileio.write_atomic(file[:-len(".npz")] + ".json", lambda f: f.write(text), mode="w")


def load(file: str) -> tuple[dict[str, np.ndarray], dict]:
  """(arrays, metadata) of a file `save` wrote; ValueError if it has no metadata."""
  with np.load(file, allow_pickle=False) as data:
    arrays = {k: data[k] for k in data.files}
  # Inception references cached before this helper name the entry "metadata".
  text = arrays.pop(METADATA, None)
  if text is None:
    text = arrays.pop("metadata", None)
  if text is None:
    raise ValueError(f"{file} has no metadata")
  return arrays, json.loads(str(text))


def load_or_compute(file: str, key: dict,
                    compute: Callable[[], tuple[dict[str, Any], dict]], *,
                    check: Callable[[dict], None] = lambda arrays: None, what: str,
                    redo: str = "recomputing", json_copy: bool = False,
                    ) -> tuple[dict, dict, bool]:
  """The cached (arrays, metadata) of `key`, or compute()'s, saved; and whether computed.

  The file is used when it reads, its metadata repeats every entry of `key` and
  check(arrays) does not raise; otherwise it is recomputed with a CacheWarning
  ("cached <what> <file> is unusable (...); <redo> it"). compute() is called only then
  and returns (arrays, metadata), the metadata holding `key`; a file that cannot be
  written is a CacheWarning too.
  """
  if os.path.exists(file):
    try:
      arrays, metadata = load(file)
      stored = {k: metadata.get(k) for k in key}
      if stored != key:
        raise ValueError(f"it describes {stored}, expected {key}")
      check(arrays)
      return arrays, metadata, False
    except _UNUSABLE as e:
      warnings.warn(f"cached {what} {file} is unusable ({type(e).__name__}: {e}); "
                    f"{redo} it", CacheWarning, stacklevel=3)
  arrays, metadata = compute()
  try:
    save(file, arrays, metadata, json_copy=json_copy)
  except OSError as e:  # a read-only cache folder costs time, not the result
    warnings.warn(f"could not cache {what} at {file} ({e}); it is computed again next "
                  "time", CacheWarning, stacklevel=3)
  return arrays, metadata, True
