"""The images of a `dataset.name=folder` directory: listing, checks, classes, greyness.

No TensorFlow here. The folder is either flat or has one sub-folder per class
(any depth below the class sub-folder is accepted). Files ending in .jpg, .jpeg or
.png (any case) are images; other files are ignored. Every image file is checked
cheaply before training: PIL must identify and verify it, and a JPEG must end with
its end-of-image marker (the usual damage is a truncated copy). Files failing the
check are skipped and counted in a warning, so a run never trains silently on
garbage and never dies hours in on one broken file.

Labels: a folder whose every image lies inside a first-level sub-folder, with at
least two such sub-folders, is labelled: class k is the k-th sub-folder name in
sorted order (sub-folders without a usable image are not classes). A flat folder,
or one whose images all sit in a single sub-folder (a common way to store an
unlabelled set), has no labels.

Channels: a folder whose images are all greyscale (PIL modes 1, L, LA, I, I;16*,
or a palette of greys) is one-channel data; any colour image makes it three.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os

from absl import logging
import numpy as np
from PIL import Image

from jaxgan.data import registry

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
_JPEG_END = b"\xff\xd9"
# Encoders may pad a JPEG after its end-of-image marker; look this far back for it.
_JPEG_TAIL_BYTES = 64
_GREY_MODES = ("1", "L", "LA", "I")
SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True, eq=False)
class FolderImages:
  """The usable images of a folder and what its layout says about them.

  Attributes:
    path: the folder, as given.
    files: usable image paths in sorted walk order (the order the data uses).
    class_names: sorted class sub-folder names; () if the folder is unlabelled.
    labels: class id of every file (int32 [N]); None if unlabelled.
    all_grey: every image is greyscale.
    unlabelled_reason: why the folder has no labels; "" if it has.
  """
  path: str
  files: tuple[str, ...]
  class_names: tuple[str, ...]
  labels: np.ndarray | None
  all_grey: bool
  unlabelled_reason: str

  @property
  def channels(self) -> int:
    """1 if every image is grey, else 3."""
    return 1 if self.all_grey else 3


def _is_grey(im: Image.Image) -> bool:
  """Whether an opened (not yet loaded) image is greyscale, from its header."""
  if im.mode in _GREY_MODES or im.mode.startswith("I;16"):
    return True
  if im.mode == "P" and im.palette is not None and im.palette.mode == "RGB":
    colours = np.frombuffer(bytes(im.palette.palette), np.uint8)
    colours = colours[:len(colours) // 3 * 3].reshape(-1, 3)
    return bool(np.all(colours == colours[:, :1]))
  return False


def _inspect(path: str) -> tuple[str | None, bool]:
  """(why `path` is not a usable JPEG/PNG image or None, whether it is grey)."""
  try:
    with Image.open(path) as im:
      fmt = im.format
      grey = _is_grey(im)
      im.verify()  # PNG: walks every chunk and checks its CRC
  except Exception as e:  # PIL raises many types for undecodable input
    return f"{type(e).__name__}: {e}", False
  if fmt not in ("JPEG", "PNG"):
    return f"format {fmt} is not JPEG or PNG", False
  if fmt == "JPEG":
    with open(path, "rb") as f:
      f.seek(0, os.SEEK_END)
      f.seek(max(0, f.tell() - _JPEG_TAIL_BYTES))
      if _JPEG_END not in f.read():
        return "truncated JPEG (no end-of-image marker)", False
  return None, grey


def undecodable(files, limit: int = 5) -> list[tuple[str, str]]:
  """Up to `limit` (file, reason) pairs PIL cannot fully decode, to name in an error.

  A full decode of every file is too slow to run before each training run, so this
  runs only after TF failed to decode an image that passed `read_folder`'s check.
  """
  found = []
  for path in files:
    try:
      with Image.open(path) as im:
        im.load()
    except Exception as e:  # PIL raises many types for undecodable input
      found.append((path, f"{type(e).__name__}: {e}"))
      if len(found) == limit:
        break
  return found


def decode_error(files, path: str, tf_message: str, *,
                 when: str = "during training") -> ValueError:
  """The error for TensorFlow failing to decode one of `files`: names the bad ones.

  The cheap pre-training check misses e.g. a JPEG with zeroed bytes mid-file, and
  TF's own error does not say which file failed.
  """
  bad = undecodable(files)
  named = "; ".join(f"{f} ({why})" for f, why in bad) or "none found by PIL"
  return ValueError(
      f"an image under dataset.path {path!r} failed to decode {when}; "
      f"undecodable files: {named}. Remove them and retry. "
      f"TensorFlow said: {tf_message.splitlines()[0]}")


def _walk(path: str) -> list[str]:
  """Non-hidden files under `path` in sorted walk order.

  Hidden files and folders (names starting with ".") are skipped: macOS leaves
  "._name.jpg" resource forks next to real images.
  """
  found = []
  for root, dirs, files in os.walk(path):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    found += [os.path.join(root, n) for n in sorted(files) if not n.startswith(".")]
  return found


def _classes(path: str, files: tuple[str, ...]):
  """(class_names, labels or None, unlabelled_reason) from the folder layout."""
  parts = [os.path.relpath(f, path).split(os.sep) for f in files]
  loose = sum(len(p) == 1 for p in parts)
  if loose:
    return (), None, (f"{loose} of its {len(files)} images lie directly in it, not "
                      "in class sub-folders")
  names = tuple(sorted({p[0] for p in parts}))
  if len(names) < 2:
    return (), None, (f"all its images are in one sub-folder ({names[0]!r}); labels "
                      "need one sub-folder per class, at least two")
  ids = {name: k for k, name in enumerate(names)}
  return names, np.asarray([ids[p[0]] for p in parts], np.int32), ""


@functools.lru_cache(maxsize=4)
def _read(path: str, signature: tuple) -> FolderImages:
  """read_folder (cached by the files' `signature`: checking every file is slow)."""
  del signature  # only the cache key: any added, removed or changed file rescans
  if not os.path.isdir(path):
    raise ValueError(f"dataset.path {path!r} is not a directory")
  files, grey, bad, ignored = [], [], [], []
  for full in _walk(path):
    if not full.lower().endswith(IMAGE_EXTENSIONS):
      ignored.append(full)
      continue
    problem, is_grey = _inspect(full)
    if problem is None:
      files.append(full)
      grey.append(is_grey)
    else:
      bad.append((full, problem))
  if bad:
    examples = "; ".join(f"{p} ({why})" for p, why in bad[:3])
    logging.warning("folder %s: skipped %d unreadable image file(s) of %d, e.g. %s",
                    path, len(bad), len(bad) + len(files), examples)
  if ignored:
    logging.info("folder %s: ignored %d file(s) that are not .jpg/.jpeg/.png",
                 path, len(ignored))
  if not files:
    raise ValueError(f"dataset.path {path!r} holds no usable JPEG/PNG image "
                     f"({len(bad)} unreadable, {len(ignored)} other files)")
  names, labels, reason = _classes(path, tuple(files))
  return FolderImages(path=path, files=tuple(files), class_names=names, labels=labels,
                      all_grey=all(grey), unlabelled_reason=reason)


def read_folder(path: str) -> FolderImages:
  """The usable images under `path`, their classes and greyness; logs what was skipped.

  Checking every file is slow on a large folder, so the result is cached for as
  long as no file under `path` is added, removed or modified.

  Raises:
    ValueError: if `path` is not a directory or holds no usable image.
  """
  # A missing path walks as empty; _read then raises (errors are not cached).
  signature = []
  for full in _walk(path):
    stat = os.stat(full)
    signature.append((full, stat.st_size, stat.st_mtime_ns))
  return _read(path, tuple(signature))


def contents_digest(images: FolderImages) -> str:
  """sha256 of the sorted list of usable image paths, relative to the folder.

  Identifies what a folder holds, e.g. to key a cache on it: two folders share a
  digest only if they list the same files.
  """
  relative = sorted(os.path.relpath(f, images.path) for f in images.files)
  return hashlib.sha256("\n".join(relative).encode()).hexdigest()


def evaluation_split(images: FolderImages, split: str) -> tuple[tuple[str, ...],
                                                                np.ndarray]:
  """(files, labels) of the evaluation classifier's "train" or "test" split.

  "test" is every TEST_EVERY-th image of each class in sorted order (the 0th, 6th,
  ...), "train" the rest; the GAN itself trains on every image. Files are ordered
  by (rank within their split's class, class id), so any prefix (e.g. a `limit`)
  holds the classes as evenly as the folder allows.

  Raises:
    ValueError: if the folder is unlabelled or `split` is not train or test.
  """
  if split not in SPLITS:
    raise ValueError(f"unknown folder split {split!r}; allowed: {', '.join(SPLITS)}")
  if images.labels is None:
    raise ValueError(f"folder {images.path!r} has no class labels: "
                     f"{images.unlabelled_reason}")
  chosen = []  # (rank in split, class, index)
  for k in range(len(images.class_names)):
    members = np.flatnonzero(images.labels == k)
    held_out = np.arange(len(members)) % registry.TEST_EVERY == 0
    members = members[held_out] if split == "test" else members[~held_out]
    chosen += [(rank, k, int(i)) for rank, i in enumerate(members)]
  index = [i for _, _, i in sorted(chosen)]
  return tuple(images.files[i] for i in index), images.labels[index]
