"""FID and Inception score of image folders from the command line, like pytorch-fid.

  python -m jaxgan.fid PATH_A PATH_B --weights pt_inception-2015-12-05-6726825d.pth
  python -m jaxgan.fid --save-stats PATH_IN STATS_OUT.npz --weights W
  python -m jaxgan.fid --inception-score PATH --weights W
  python -m jaxgan.fid --weights W.pth --convert   # write W.npz (needs torch once)

A PATH is a folder of images, searched recursively (bmp, jpg, jpeg, pgm, png, ppm, tif,
tiff, webp, any case), or an .npz of statistics with arrays "mu" and "sigma"
(pytorch-fid's --save-stats files and TTUR's precomputed statistics). Images are read
as pytorch-fid reads them (PIL, convert('RGB'), x / 255) and go through the FID
Inception-v3 of jaxgan/eval/inception.py with the weights file given; the first line
printed is pytorch-fid's, "FID:  <value>". Unlike pytorch-fid, which looks only at the
top level of a folder and at lower-case extensions, folders are searched recursively.

The Inception score follows Salimans et al.'s code: 10 splits in file order (sorted
paths), mean and standard deviation over splits; --shuffle-seed 2020 shuffles first as
torch-fidelity does, for folders sorted by class.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys

import numpy as np
from PIL import Image

from jaxgan.eval import inception
from jaxgan.eval import metrics

IMAGE_EXTENSIONS = ("bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp")
# Images decoded at once (and threads decoding them): enough to keep the network fed.
_READ_CHUNK = 256
_READ_THREADS = 8


def image_files(path: str) -> list[str]:
  """Every image file under `path` (recursively), sorted; ValueError if there is none."""
  files = sorted(os.path.join(root, name)
                 for root, _, names in os.walk(path, followlinks=True) for name in names
                 if name.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS and "." in name)
  if not files:
    raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) under {path!r}")
  return files


def _read_rgb(path: str) -> np.ndarray:
  with Image.open(path) as image:
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def read_images(files: list[str]):
  """uint8 [1, H, W, 3] images of `files` in order, decoded by a few threads a chunk at
  a time (Extractor.activations_of_batches regroups them into batches)."""
  with concurrent.futures.ThreadPoolExecutor(_READ_THREADS) as pool:
    for start in range(0, len(files), _READ_CHUNK):
      for image in pool.map(_read_rgb, files[start:start + _READ_CHUNK]):
        yield image[None]


def activations(path: str, extractor: inception.Extractor) -> tuple[np.ndarray, np.ndarray]:
  """(pool3, logits) of every image under the folder `path`."""
  return extractor.activations_of_batches(read_images(image_files(path)))


def statistics(path: str, extractor: inception.Extractor) -> tuple[np.ndarray, np.ndarray]:
  """(mu, sigma) of a folder of images, or read from an .npz of statistics."""
  if path.endswith(".npz"):
    with np.load(path, allow_pickle=False) as data:
      return data["mu"], data["sigma"]
  return metrics.feature_statistics(activations(path, extractor)[0])


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="python -m jaxgan.fid",
      description="FID / Inception score with the FID Inception-v3 (pytorch-fid's "
                  "network and weights) in JAX.")
  parser.add_argument("path", nargs="*",
                      help="two folders / .npz statistics (FID); with --save-stats the "
                           "input folder and the output .npz; with --inception-score "
                           "one folder")
  parser.add_argument("--weights", help=f"pytorch-fid's {inception.WEIGHTS_FILE} or "
                                        "the .npz jaxgan converted it to")
  parser.add_argument("--batch-size", type=int, default=50,
                      help="images per compiled call (pytorch-fid's default: 50)")
  parser.add_argument("--save-stats", action="store_true",
                      help="write the statistics of the first path to the second (.npz)")
  parser.add_argument("--inception-score", action="store_true",
                      help="print the Inception score of one folder")
  parser.add_argument("--splits", type=int, default=10,
                      help="Inception-score splits (Salimans et al.: 10)")
  parser.add_argument("--shuffle-seed", type=int, default=None,
                      help="shuffle before splitting, as torch-fidelity (seed 2020)")
  parser.add_argument("--convert", action="store_true",
                      help="only convert --weights (.pth) to an .npz beside it")
  return parser


def main(argv: list[str] | None = None) -> int:
  parser = _parser()
  args = parser.parse_args(argv)
  expected = 0 if args.convert else 1 if args.inception_score else 2
  if len(args.path) != expected:
    parser.error(f"expected {expected} path(s), got {len(args.path)}")
  if not args.weights:
    parser.error(inception.missing_weights_message("<--weights not given>"))
  try:
    if args.convert:
      inception.load_weights(args.weights)
      print(f"weights: {os.path.splitext(os.path.expanduser(args.weights))[0]}.npz")
      return 0
    extractor = inception.Extractor.from_file(args.weights, batch_size=args.batch_size)
    for path in args.path[:1 if args.save_stats or args.inception_score else 2]:
      if not os.path.exists(path):
        raise ValueError(f"invalid path: {path!r} does not exist")
    if args.save_stats:
      if os.path.exists(args.path[1]):
        raise ValueError(f"existing output file: {args.path[1]!r}")
      mu, sigma = statistics(args.path[0], extractor)
      np.savez_compressed(args.path[1], mu=mu, sigma=sigma)
      print(f"Saved statistics of {args.path[0]} to {args.path[1]}")
      return 0
    if args.inception_score:
      pool3, _ = activations(args.path[0], extractor)
      mean, std = metrics.inception_score(extractor.score_logits(pool3),
                                          num_splits=args.splits,
                                          shuffle_seed=args.shuffle_seed)
      print(f"IS:  {mean} +- {std} ({len(pool3)} images, {args.splits} splits)")
      return 0
    mu1, sigma1 = statistics(args.path[0], extractor)
    mu2, sigma2 = statistics(args.path[1], extractor)
    print("FID: ", metrics.frechet_distance_from_stats(mu1, sigma1, mu2, sigma2))
    return 0
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
