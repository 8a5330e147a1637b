"""Finding and checking the images of a `dataset.name=folder` directory (no TF here).

The folder is either flat or has one sub-folder per class (any depth is accepted;
labels are not used: the GANs here are unconditional). Files ending in .jpg, .jpeg or
.png (any case) are images; other files are ignored. Every image file is checked
cheaply before training: PIL must identify and verify it, and a JPEG must end with
its end-of-image marker (the usual damage is a truncated copy). Files failing the
check are skipped and counted in a warning, so a run never trains silently on
garbage and never dies hours in on one broken file.
"""

from __future__ import annotations

import dataclasses
import os

from absl import logging
from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
_JPEG_END = b"\xff\xd9"
# Encoders may pad a JPEG after its end-of-image marker; look this far back for it.
_JPEG_TAIL_BYTES = 64


@dataclasses.dataclass(frozen=True)
class FolderScan:
  """What a folder holds: usable images, rejected images and non-image files."""
  images: tuple[str, ...]
  bad_images: tuple[tuple[str, str], ...]  # (path, reason)
  ignored: tuple[str, ...]


def _is_image_name(name: str) -> bool:
  return name.lower().endswith(IMAGE_EXTENSIONS)


def image_problem(path: str) -> str | None:
  """Why `path` is not a usable JPEG/PNG image, or None when it is."""
  try:
    with Image.open(path) as im:
      fmt = im.format
      im.verify()  # PNG: walks every chunk and checks its CRC
  except Exception as e:  # PIL raises many types for undecodable input
    return f"{type(e).__name__}: {e}"
  if fmt not in ("JPEG", "PNG"):
    return f"format {fmt} is not JPEG or PNG"
  if fmt == "JPEG":
    with open(path, "rb") as f:
      f.seek(0, os.SEEK_END)
      f.seek(max(0, f.tell() - _JPEG_TAIL_BYTES))
      if _JPEG_END not in f.read():
        return "truncated JPEG (no end-of-image marker)"
  return None


def undecodable(files, limit: int = 5) -> list[tuple[str, str]]:
  """Up to `limit` (file, reason) pairs PIL cannot fully decode.

  A full decode of every file is too slow to run before each training run, so this
  runs only after TF failed to decode an image that passed `image_problem`.
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


def scan_folder(path: str) -> FolderScan:
  """Lists and checks the images under `path`, in a sorted (deterministic) order.

  Hidden files and folders (names starting with ".") are skipped: macOS leaves
  "._name.jpg" resource forks next to real images.

  Raises:
    ValueError: if `path` is empty or not a directory.
  """
  if not path:
    raise ValueError("dataset.name='folder' needs dataset.path: a directory of "
                     "JPEG/PNG images (flat or one sub-folder per class)")
  if not os.path.isdir(path):
    raise ValueError(f"dataset.path {path!r} is not a directory")
  images, bad, ignored = [], [], []
  for root, dirs, files in os.walk(path):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    for name in sorted(files):
      if name.startswith("."):
        continue
      full = os.path.join(root, name)
      if not _is_image_name(name):
        ignored.append(full)
        continue
      problem = image_problem(full)
      if problem is None:
        images.append(full)
      else:
        bad.append((full, problem))
  return FolderScan(tuple(images), tuple(bad), tuple(ignored))


def list_images(path: str) -> tuple[str, ...]:
  """The usable images under `path`; logs what was skipped.

  Raises:
    ValueError: if `path` is not a directory or holds no usable image.
  """
  scan = scan_folder(path)
  if scan.bad_images:
    examples = "; ".join(f"{p} ({why})" for p, why in scan.bad_images[:3])
    logging.warning("folder %s: skipped %d unreadable image file(s) of %d, e.g. %s",
                    path, len(scan.bad_images),
                    len(scan.bad_images) + len(scan.images), examples)
  if scan.ignored:
    logging.info("folder %s: ignored %d file(s) that are not .jpg/.jpeg/.png",
                 path, len(scan.ignored))
  if not scan.images:
    raise ValueError(
        f"dataset.path {path!r} holds no usable JPEG/PNG image "
        f"({len(scan.bad_images)} unreadable, {len(scan.ignored)} other files)")
  return scan.images
