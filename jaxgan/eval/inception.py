"""The FID Inception-v3 network in Flax, its weights from a local file, and its features.

Published FID, Inception score and KID numbers come from one network: the TensorFlow
Inception-v3 graph of 2015-12-05 of Heusel et al.'s TTUR and Salimans et al.'s code.
pytorch-fid (`InceptionV3`, use_fid_inception=True) rebuilds it from torchvision's
Inception-v3 with the graph's quirks and ships pt_inception-2015-12-05-6726825d.pth.
`FIDInceptionV3` is that network layer for layer: conv (no bias) -> BatchNorm (eps
1e-3) -> ReLU everywhere; the average pools of Mixed_5*, 6b-e and 7b exclude the
padding (TensorFlow's); Mixed_7c's pool branch is a 3x3 max pool; pool3 is the
spatial mean of Mixed_7c (2048 features) and the logits its 1008-way fc.

Input handling is pytorch-fid's: images in [0, 1] (grey as three equal channels),
bilinear resize to 299x299 without antialiasing, then [-1, 1]. Generated images in
[-1, 1] are first rounded to 8 bits as jaxgan's PNGs store them, so a score computed
during training equals pytorch-fid's on the saved PNGs. Weights come from a local file
only (jaxgan never downloads): pytorch-fid's .pth (read with torch, converted once to
an .npz beside it) or that .npz.

`inception_metrics` computes FID, IS, KID and PRDC (jaxgan/eval/metrics.py) from
features; `InceptionEvaluator` runs them on a generator's samples.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from absl import logging
import flax.linen as nn
from flax import traverse_util
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P
import numpy as np

from jaxgan import mesh as mesh_lib
from jaxgan import sample
from jaxgan.eval import cache
from jaxgan.eval import metrics

# pytorch-fid's weights: the file name, its release URL and its SHA-256 prefix (the
# "-6726825d" torch.hub checks). jaxgan does not download; the URL is for the message.
WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
               + WEIGHTS_FILE)
INPUT_SIZE = 299  # the graph's input side, to which pytorch-fid resizes every image
NUM_FEATURES = 2048  # pool3
NUM_LOGITS = 1008  # the graph's softmax: 1000 ImageNet classes and 8 unused
NAME = "inception_v3"  # the suffix of the metric keys (fid_inception_v3, ...)

# Bump when the meaning of a converted .npz changes, so old conversions are redone.
_NPZ_FORMAT = 1
# Accelerators compute float32 convolutions in bf16 / tf32 passes by default; a
# measuring instrument that must equal pytorch-fid's float32 numbers asks for full
# float32 (on CPU this changes nothing).
_PRECISION = jax.lax.Precision.HIGHEST
_NETWORK = "the FID Inception-v3"  # what weights files are checked against


class _ConvBN(nn.Module):
  """torchvision's BasicConv2d: conv without bias -> BatchNorm(eps=1e-3) -> ReLU."""

  features: int
  kernel: tuple[int, int]
  strides: int = 1
  padding: tuple[int, int] = (0, 0)  # (rows, columns) of zeros on each side, as torch

  @nn.compact
  def __call__(self, x):
    ph, pw = self.padding
    x = nn.Conv(self.features, self.kernel, strides=self.strides,
                padding=((ph, ph), (pw, pw)), use_bias=False, precision=_PRECISION,
                name="conv")(x)
    # use_running_average is a call argument (not a field) and momentum 0 so that a
    # pass that intercepts it records one batch's statistics exactly (the seeded
    # weights of tests and benchmarks).
    x = nn.BatchNorm(momentum=0.0, epsilon=1e-3, use_fast_variance=False,
                     name="bn")(x, use_running_average=True)
    return nn.relu(x)


def _avg_pool_3x3(x):
  """3x3 stride-1 average pool whose border averages exclude the padding (TF's)."""
  return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)),
                     count_include_pad=False)


def _max_pool_3x3_stride2(x):
  return nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


class _InceptionA(nn.Module):
  """Mixed_5b/c/d (pytorch-fid's FIDInceptionA): 35x35 blocks."""

  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = _ConvBN(64, (1, 1), name="branch1x1")(x)
    b5 = _ConvBN(48, (1, 1), name="branch5x5_1")(x)
    b5 = _ConvBN(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
    b3 = _ConvBN(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = _ConvBN(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
    b3 = _ConvBN(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
    bp = _ConvBN(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class _InceptionB(nn.Module):
  """Mixed_6a (torchvision's InceptionB): 35x35 -> 17x17."""


  @nn.compact
  def __call__(self, x):
    b3 = _ConvBN(384, (3, 3), strides=2, name="branch3x3")(x)
    bd = _ConvBN(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = _ConvBN(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = _ConvBN(96, (3, 3), strides=2, name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_stride2(x)], axis=-1)


class _InceptionC(nn.Module):
  """Mixed_6b/c/d/e (pytorch-fid's FIDInceptionC): 17x17 blocks with 7x1 / 1x7 convs."""

  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = _ConvBN(192, (1, 1), name="branch1x1")(x)
    b7 = _ConvBN(c7, (1, 1), name="branch7x7_1")(x)
    b7 = _ConvBN(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
    b7 = _ConvBN(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
    bd = _ConvBN(c7, (1, 1), name="branch7x7dbl_1")(x)
    bd = _ConvBN(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
    bd = _ConvBN(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
    bd = _ConvBN(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
    bd = _ConvBN(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
    bp = _ConvBN(192, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class _InceptionD(nn.Module):
  """Mixed_7a (torchvision's InceptionD): 17x17 -> 8x8."""


  @nn.compact
  def __call__(self, x):
    b3 = _ConvBN(192, (1, 1), name="branch3x3_1")(x)
    b3 = _ConvBN(320, (3, 3), strides=2, name="branch3x3_2")(b3)
    b7 = _ConvBN(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = _ConvBN(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = _ConvBN(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = _ConvBN(192, (3, 3), strides=2, name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_stride2(x)], axis=-1)


class _InceptionE(nn.Module):
  """Mixed_7b (FIDInceptionE_1, average pool) and Mixed_7c (FIDInceptionE_2, max pool)."""

  max_pool: bool  # the 2015 graph's last block pools with max, not average

  @nn.compact
  def __call__(self, x):
    b1 = _ConvBN(320, (1, 1), name="branch1x1")(x)
    b3 = _ConvBN(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate([_ConvBN(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                          _ConvBN(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)],
                         axis=-1)
    bd = _ConvBN(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = _ConvBN(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([_ConvBN(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                          _ConvBN(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)],
                         axis=-1)
    if self.max_pool:
      pooled = nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))
    else:
      pooled = _avg_pool_3x3(x)
    bp = _ConvBN(192, (1, 1), name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
  """x[N, 299, 299, 3] in [-1, 1] -> (pool3 [N, 2048], logits [N, 1008]).

  pytorch-fid's FID Inception-v3 (fid_inception_v3(): torchvision's Inception3 with
  1008 classes, no auxiliary head, and the FIDInception* blocks), in NHWC. Submodule and
  parameter names follow the PyTorch state dict (Conv2d_1a_3x3/conv, Mixed_5b/branch1x1/
  bn, fc), so `variables_from_state_dict` is a renaming and a transposition.
  """

  @nn.compact
  def __call__(self, x):
    x = _ConvBN(32, (3, 3), strides=2, name="Conv2d_1a_3x3")(x)
    x = _ConvBN(32, (3, 3), name="Conv2d_2a_3x3")(x)
    x = _ConvBN(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
    x = _max_pool_3x3_stride2(x)
    x = _ConvBN(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = _ConvBN(192, (3, 3), name="Conv2d_4a_3x3")(x)
    x = _max_pool_3x3_stride2(x)
    x = _InceptionA(32, name="Mixed_5b")(x)
    x = _InceptionA(64, name="Mixed_5c")(x)
    x = _InceptionA(64, name="Mixed_5d")(x)
    x = _InceptionB(name="Mixed_6a")(x)
    x = _InceptionC(128, name="Mixed_6b")(x)
    x = _InceptionC(160, name="Mixed_6c")(x)
    x = _InceptionC(160, name="Mixed_6d")(x)
    x = _InceptionC(192, name="Mixed_6e")(x)
    x = _InceptionD(name="Mixed_7a")(x)
    x = _InceptionE(False, name="Mixed_7b")(x)
    x = _InceptionE(True, name="Mixed_7c")(x)
    pool3 = jnp.mean(x, axis=(1, 2))
    # Dense with bias: torchvision's fc. Salimans et al.'s Inception score reads the
    # graph's logits *without* the bias; `inception_score_logits` removes it.
    logits = nn.Dense(NUM_LOGITS, precision=_PRECISION, name="fc")(pool3)
    return pool3, logits


def bilinear_resize_matrix(in_size: int, out_size: int) -> np.ndarray:
  """[out_size, in_size] float32 rows of PyTorch's bilinear weights (align_corners=False).

  F.interpolate(mode='bilinear', align_corners=False, antialias=False): output i reads
  source coordinate s = max((i + 0.5) * in / out - 0.5, 0) and mixes floor(s) and
  min(floor(s) + 1, in - 1) by 1 - frac(s) and frac(s); no antialiasing, float32
  arithmetic as PyTorch's CPU kernel.
  """
  if in_size < 1 or out_size < 1:
    raise ValueError(f"sizes must be >= 1, got in_size={in_size}, out_size={out_size}")
  scale = np.float32(in_size) / np.float32(out_size)
  src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
  src = np.maximum(src, np.float32(0.0))
  lo = np.minimum(src.astype(np.int64), in_size - 1)
  hi = np.minimum(lo + 1, in_size - 1)
  frac = src - lo.astype(np.float32)
  matrix = np.zeros((out_size, in_size), np.float32)
  rows = np.arange(out_size)
  matrix[rows, lo] += np.float32(1.0) - frac
  matrix[rows, hi] += frac
  return matrix


def resize_to_input(images01):
  """[N, H, W, C] in [0, 1], C in {1, 3} -> [N, 299, 299, 3] in [-1, 1], as pytorch-fid.

  Grey images become three equal channels (PIL's convert('RGB')); then bilinear resize
  (`bilinear_resize_matrix`, skipped at 299 where it is the identity) and 2x - 1.
  """
  _, height, width, channels = images01.shape
  if channels == 1:
    images01 = jnp.broadcast_to(images01, images01.shape[:3] + (3,))
  elif channels != 3:
    raise ValueError(f"images must have 1 or 3 channels, got shape {images01.shape}")
  x = images01.astype(jnp.float32)
  if height != INPUT_SIZE:
    x = jnp.einsum("oh,nhwc->nowc", bilinear_resize_matrix(height, INPUT_SIZE), x,
                   precision=_PRECISION)
  if width != INPUT_SIZE:
    x = jnp.einsum("ow,nhwc->nhoc", bilinear_resize_matrix(width, INPUT_SIZE), x,
                   precision=_PRECISION)
  return 2.0 * x - 1.0


def to_uint8(images) -> np.ndarray:
  """[-1, 1] floats -> uint8 pixels, rounded as jaxgan writes PNGs; uint8 passes through."""
  images = np.asarray(images)
  if images.dtype == np.uint8:
    return images
  if not np.issubdtype(images.dtype, np.floating):
    raise ValueError(f"images must be uint8 or floats in [-1, 1], got {images.dtype}")
  return sample.to_uint8(images)


def _forward(variables, pixels):
  """uint8 [N, H, W, C] -> (pool3, logits): ToTensor's x / 255, resize, network."""
  x = resize_to_input(pixels.astype(jnp.float32) / 255.0)
  return FIDInceptionV3().apply(variables, x)


@functools.lru_cache(maxsize=None)
def variable_shapes() -> dict:
  """The network's variables as a tree of jax.ShapeDtypeStruct (params, batch_stats)."""
  return jax.eval_shape(lambda: FIDInceptionV3().init(
      jax.random.key(0), jnp.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)))


# flax leaf name -> PyTorch parameter / buffer name.
_TORCH_LEAF = {"kernel": "weight", "scale": "weight", "bias": "bias",
               "mean": "running_mean", "var": "running_var"}


def torch_names() -> dict[tuple[str, ...], str]:
  """{flax path (collection, module..., leaf): PyTorch state-dict key}."""
  flat = traverse_util.flatten_dict(variable_shapes())
  return {path: ".".join(path[1:-1] + (_TORCH_LEAF[path[-1]],)) for path in flat}


def to_flax_layout(array: np.ndarray, *, inverse: bool = False) -> np.ndarray:
  """PyTorch conv [O, I, kh, kw] -> [kh, kw, I, O], linear [O, I] -> [I, O]; `inverse`
  the other way."""
  if array.ndim == 4:
    return array.transpose((3, 2, 0, 1) if inverse else (2, 3, 1, 0))
  return array.T if array.ndim == 2 else array


def variables_from_state_dict(state_dict: Mapping[str, Any]) -> dict:
  """pytorch-fid's FID Inception-v3 state dict (numpy arrays) -> flax variables.

  Exactly fid_inception_v3()'s keys (num_batches_tracked optional); ValueError naming
  missing, unexpected or mis-shaped entries, and naming torchvision's ImageNet weights
  (1000 classes, auxiliary head) as the wrong network.
  """
  names = torch_names()
  given = {k for k in state_dict if not k.endswith(".num_batches_tracked")}
  expected = set(names.values())
  if any(k.startswith("AuxLogits.") for k in given) or (
      "fc.weight" in state_dict and np.shape(state_dict["fc.weight"])[0] == 1000):
    raise ValueError(
        "these are torchvision's ImageNet Inception-v3 weights (1000 classes, auxiliary "
        f"head), not the FID network's; use pytorch-fid's {WEIGHTS_FILE} ({WEIGHTS_URL})")
  missing, unexpected = sorted(expected - given), sorted(given - expected)
  if missing or unexpected:
    raise ValueError(
        f"not an FID Inception-v3 state dict: missing {missing[:5]}"
        f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
        f"{' ...' if len(unexpected) > 5 else ''}")
  shapes = traverse_util.flatten_dict(variable_shapes())
  flat = {}
  for path, key in names.items():
    array = to_flax_layout(np.asarray(state_dict[key], dtype=np.float32))
    if array.shape != shapes[path].shape:
      expected_shape = to_flax_layout(np.zeros(shapes[path].shape), inverse=True).shape
      raise ValueError(f"{key}: shape {np.shape(state_dict[key])} does not fit the FID "
                       f"Inception-v3 (expected {expected_shape})")
    flat[path] = array
  return traverse_util.unflatten_dict(flat)


def missing_weights_message(path: str) -> str:
  """One line: which weights file Inception metrics need and how to get it offline."""
  return (f"Inception metrics need pytorch-fid's FID Inception-v3 weights, but "
          f"{path!r} does not exist; jaxgan never downloads: on a machine with network "
          f"access fetch {WEIGHTS_URL} (about 96 MB), copy it here and pass its path "
          "(or the .npz jaxgan converts it to).")


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def _read_pth(path: str) -> dict[str, np.ndarray]:
  """A .pth state dict as numpy arrays, read with torch (weights only, no code run)."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ValueError(
        f"reading {path} needs PyTorch, which is not installed: install it (the CPU "
        "wheel suffices) and jaxgan caches the converted weights beside the file as "
        f"{os.path.splitext(path)[0]}.npz, or convert on a machine that has torch with "
        f"`python -m jaxgan.fid --weights {path} --convert` and pass the .npz") from None
  state = torch.load(path, map_location="cpu", weights_only=True)
  return {k: v.detach().cpu().numpy() for k, v in state.items()}


def _check_hub_hash(path: str, sha256: str) -> None:
  """torch.hub's check: a name ending in -<hex> must be a prefix of the file's SHA-256."""
  match = re.search(r"-([0-9a-f]{6,})\.pth?$", os.path.basename(path))
  if match and not sha256.startswith(match.group(1)):
    raise ValueError(
        f"{path}: its SHA-256 starts {sha256[:len(match.group(1))]}, not "
        f"{match.group(1)} as its name says; the file is damaged or not the released one")


def save_npz(path: str, variables, metadata: Mapping[str, Any]) -> None:
  """Writes variables (one array per "collection/module/.../leaf") and metadata."""
  flat = cache.flatten(jax.tree.map(lambda v: np.asarray(v, np.float32), variables))
  cache.save(path, flat, dict(metadata, format=_NPZ_FORMAT))


def load_npz(path: str) -> tuple[dict, dict]:
  """(variables, metadata) of a converted .npz, checked against the network's shapes."""
  try:
    arrays, metadata = cache.load(path)
  except ValueError:
    raise ValueError(f"{path} is not a jaxgan Inception weights file (no metadata)") from None
  if metadata.get("format") != _NPZ_FORMAT:  # a stored field, not a config default
    raise ValueError(f"{path} has format {metadata.get('format')}, expected "
                     f"{_NPZ_FORMAT}; convert the .pth again")
  try:
    cache.check_arrays(arrays, variable_shapes(), _NETWORK)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from None
  return cache.unflatten(arrays), metadata


def load_weights(path: str) -> tuple[dict, dict]:
  """(variables, metadata) from pytorch-fid's .pth or its converted .npz.

  A .pth is read with torch once; the conversion is cached as <name>.npz beside it
  (cache.load_or_compute: a warning if not writable) and reused while the .pth's
  SHA-256 (metadata["source_sha256"], which keys the reference caches) is the one
  converted. FileNotFoundError (with `missing_weights_message`) if `path` does not
  exist; ValueError for other weights or a .pth without torch.
  """
  path = os.path.expanduser(path)
  if not os.path.exists(path):
    raise FileNotFoundError(missing_weights_message(path))
  stem, ext = os.path.splitext(path)
  if ext == ".npz":
    return load_npz(path)
  if ext not in (".pth", ".pt"):
    raise ValueError(f"weights file {path!r}: expected pytorch-fid's .pth or a "
                     "converted .npz")
  sha256 = _sha256(path)

  def convert():
    _check_hub_hash(path, sha256)
    variables = variables_from_state_dict(_read_pth(path))
    return cache.flatten(variables), {"source": os.path.basename(path),
                                      "source_sha256": sha256, "format": _NPZ_FORMAT}

  arrays, metadata, _ = cache.load_or_compute(
      stem + ".npz", {"source_sha256": sha256, "format": _NPZ_FORMAT}, convert,
      check=lambda arrays: cache.check_arrays(arrays, variable_shapes(), _NETWORK),
      what="converted Inception weights", redo="converting")
  return cache.unflatten(arrays), metadata


class Extractor:
  """The FID Inception-v3 with its weights, compiled once.

  Batches are split over this process's devices (the training mesh's "data" axis:
  extraction is local) with the weights replicated; images become 8-bit pixels first
  (`to_uint8`). batch_size (images per compiled call) is rounded up to a multiple of
  the device count and the last batch padded, so one shape compiles per image size;
  metadata is `load_weights`' (what the weights are, for caches).
  """

  def __init__(self, variables, *, batch_size: int, metadata: Mapping[str, Any] | None = None):
    if batch_size < 1:
      raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    mesh = mesh_lib.make_mesh(jax.local_devices())
    self.batch_size = -(-batch_size // mesh.devices.size) * mesh.devices.size
    self.metadata = dict(metadata or {})
    replicated = NamedSharding(mesh, P())
    self._batch_sharding = NamedSharding(mesh, P(mesh_lib.DATA))
    self._variables = jax.device_put(jax.tree.map(np.asarray, variables), replicated)
    self._fc = np.asarray(variables["params"]["fc"]["kernel"], np.float64)
    self._apply = jax.jit(_forward, in_shardings=(replicated, self._batch_sharding),
                          out_shardings=(self._batch_sharding, self._batch_sharding))

  @classmethod
  def from_file(cls, path: str, *, batch_size: int) -> "Extractor":
    """An Extractor with the weights of `path` (see `load_weights`)."""
    variables, metadata = load_weights(path)
    return cls(variables, batch_size=batch_size, metadata=metadata)

  def activations_of_batches(self, batches: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(pool3 float32 [N, 2048], logits float32 [N, 1008]) of every image of `batches`.

    Chunks [n, H, W, C] (uint8, or floats in [-1, 1]) of any n are regrouped into full
    compiled batches, so files read a few at a time stream through in bounded memory.
    """
    pool3, logits, pending = [], [], []

    def fetch():
      out_p, out_l, count = pending.pop(0)
      pool3.append(np.asarray(out_p)[:count])
      logits.append(np.asarray(out_l)[:count])

    for pixels in _rebatch((to_uint8(b) for b in batches), self.batch_size):
      count = len(pixels)
      if count < self.batch_size:
        pad = np.zeros((self.batch_size - count,) + pixels.shape[1:], np.uint8)
        pixels = np.concatenate([pixels, pad])
      out_p, out_l = self._apply(self._variables,
                                 jax.device_put(pixels, self._batch_sharding))
      pending.append((out_p, out_l, count))
      # Two batches in flight: the host prepares the next while devices compute.
      if len(pending) > 2:
        fetch()
    while pending:
      fetch()
    if not pool3:
      return (np.zeros((0, NUM_FEATURES), np.float32), np.zeros((0, NUM_LOGITS), np.float32))
    return np.concatenate(pool3), np.concatenate(logits)

  def activations(self, images) -> tuple[np.ndarray, np.ndarray]:
    """(pool3, logits) of images [N, H, W, C] (uint8, or floats in [-1, 1])."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
      raise ValueError(f"images must be [N, H, W, 1 or 3], got shape {images.shape}")
    return self.activations_of_batches(
        images[i:i + self.batch_size] for i in range(0, len(images), self.batch_size))

  def features(self, images) -> np.ndarray:
    """pool3 features float32 [N, 2048]."""
    return self.activations(images)[0]

  def score_logits(self, pool3) -> np.ndarray:
    """float64 pool3 @ W: the logits Salimans et al.'s Inception score uses (no bias).

    Their code (openai/improved-gan, copied by the WGAN-GP authors' tflib) takes the
    softmax of the graph's pool3 times the logit weights without the bias, as does
    torch-fidelity ("logits_unbiased").
    """
    return np.asarray(pool3, np.float64) @ self._fc


def _rebatch(chunks: Iterable[np.ndarray], size: int):
  """Regroups [n_i, ...] chunks into [size, ...] batches (the last may be shorter).

  A change of image shape ends the current batch, so each batch has one shape.
  """
  buffer, count = [], 0
  for chunk in chunks:
    while len(chunk):
      if buffer and buffer[0].shape[1:] != chunk.shape[1:]:
        yield np.concatenate(buffer)
        buffer, count = [], 0
      take = chunk[:size - count]
      buffer.append(take)
      count += len(take)
      chunk = chunk[len(take):]
      if count == size:
        yield np.concatenate(buffer)
        buffer, count = [], 0
  if buffer:
    yield np.concatenate(buffer)


@dataclasses.dataclass(frozen=True)
class Reference:
  """Real images' Inception statistics, what generated images are compared with.

  mu, sigma: float64 mean and covariance of the pool3 features of all num_images
  images (the FID's real side); features: float32 pool3 of a fixed seeded subset, the
  real side of KID and PRDC; metadata: what the set is (JSON-serialisable).
  """

  mu: np.ndarray
  sigma: np.ndarray
  features: np.ndarray
  num_images: int
  metadata: dict


def load_or_compute_reference(cache_dir: str, key: Mapping[str, Any], extractor: Extractor,
                              batches: Callable[[], Iterable[Any]], *, num_features: int,
                              seed: int) -> Reference:
  """The Reference cached in cache_dir under `key`, or computed from batches() and cached.

  The Reference holds the statistics of every image of batches() and the features of
  min(N, num_features) of them drawn by np.random.default_rng(seed), in order. `key`
  says what the images are (dataset, split, image size, ...); the file name adds the
  weights' SHA-256, num_features and seed, so a reference is reused only for exactly
  the images, network and subset it was computed with. An unreadable or mismatched
  cache file is recomputed with a warning. batches() is called only then.
  """
  meta_key = dict(key, weights_sha256=extractor.metadata.get("source_sha256", "unknown"),
                  num_features=int(num_features), seed=int(seed), format=_NPZ_FORMAT)
  readable = "_".join(str(meta_key.get(k, "")) for k in ("dataset", "split", "image_size"))

  def compute():
    logging.info("computing the Inception reference statistics of %s", key)
    pool3, _ = extractor.activations_of_batches(batches())
    mu, sigma = metrics.feature_statistics(pool3)
    keep = np.sort(np.random.default_rng(seed).choice(
        len(pool3), min(len(pool3), num_features), replace=False))
    # mu and sigma under pytorch-fid's names (its loader reads the file too).
    return {"mu": mu, "sigma": sigma, "features": pool3[keep],
            "num_images": np.int64(len(pool3))}, meta_key

  arrays, metadata, _ = cache.load_or_compute(
      cache.path(cache_dir, f"inception_reference_{readable}px", meta_key), meta_key,
      compute, what="Inception reference")
  return Reference(mu=arrays["mu"], sigma=arrays["sigma"], features=arrays["features"],
                   num_images=int(arrays["num_images"]), metadata=metadata)


def real_image_batches(dataset_cfg, split: str = "train", chunk: int = 1000):
  """uint8 [n, S, S, C] chunks of every real image of a split, as training sees them.

  TFDS datasets (digits too) in stored order, a folder sorted; each image goes through
  the training pipeline's crop and resize to dataset.image_size, then `to_uint8`, so
  real and generated images reach the network alike.
  """
  # TF costs seconds to import; only a reference computation pays it.
  from jaxgan.data import load  # pylint: disable=g-import-not-at-top
  for batch in load.image_chunks(dataset_cfg, split, chunk=chunk):
    yield to_uint8(batch)


def metric_keys() -> tuple[str, ...]:
  """The keys `inception_metrics` returns, in order."""
  return tuple(f"{m}_{NAME}" for m in ("fid", "is", "is_std", "kid", "kid_stderr",
                                       "precision", "recall", "density", "coverage"))


def inception_metrics(pool3: np.ndarray, score_logits: np.ndarray, reference: Reference,
                      *, is_splits: int, kid_subsets: int, kid_subset_size: int,
                      prdc_k: int, rng: Any) -> dict[str, float]:
  """Every Inception metric of generated images' pool3 [N, 2048] against `reference`.

  FID against (reference.mu, reference.sigma); the Inception score (mean, std over
  is_splits splits) of score_logits [N, 1008] (Extractor.score_logits); KID (mean,
  standard error over kid_subsets subsets drawn with rng) and precision / recall /
  density / coverage (k = prdc_k) against reference.features. Keys: metric_keys().
  """
  mu, sigma = metrics.feature_statistics(pool3)
  fid = metrics.frechet_distance_from_stats(mu, sigma, reference.mu, reference.sigma)
  is_mean, is_std = metrics.inception_score(score_logits, num_splits=is_splits)
  kid, kid_stderr = metrics.kernel_inception_distance(
      pool3, reference.features, num_subsets=kid_subsets, subset_size=kid_subset_size,
      rng=rng)
  manifold = metrics.precision_recall_density_coverage(reference.features, pool3, k=prdc_k)
  values = (fid, is_mean, is_std, kid, kid_stderr, manifold["precision"],
            manifold["recall"], manifold["density"], manifold["coverage"])
  return dict(zip(metric_keys(), values))


class InceptionEvaluator:
  """The FID Inception-v3 metrics of generated images against a dataset's training split.

  The extractor and the reference statistics (every training image, cached in
  `cache_dir`, the KID / PRDC subset drawn with `seed`) are set up on first use, once
  for it and every evaluator made with `share` (another member's InceptionEvaluator).
  """

  real_data_reference = None  # the FID's real side is the cached Reference
  setup_seconds = 0.0

  def __init__(self, config, *, cache_dir: str, seed: int,
               share: "InceptionEvaluator | None" = None):
    self.config = config
    self.num_samples = int(config.eval.inception_num_samples)
    self._cache_dir, self._seed = cache_dir, seed
    self._shared = {} if share is None else share._shared  # pylint: disable=protected-access

  def _setup(self) -> tuple[Extractor, Reference]:
    if not self._shared:
      ev, dataset = self.config.eval, self.config.dataset
      batch = ev.inception_batch_size or (10 if jax.default_backend() == "cpu" else 200)
      extractor = Extractor.from_file(ev.inception_weights, batch_size=batch)
      key = {"dataset": dataset.name, "split": "train", "image_size": dataset.image_size}
      if dataset.name == "folder":
        from jaxgan.data import folder  # pylint: disable=g-import-not-at-top
        key.update(path=os.path.abspath(os.path.expanduser(dataset.path)),
                   files=folder.contents_digest(folder.read_folder(dataset.path)))
      self._shared.update(extractor=extractor, reference=load_or_compute_reference(
          self._cache_dir, key, extractor, lambda: real_image_batches(dataset, "train"),
          num_features=ev.inception_real_features, seed=self._seed))
    return self._shared["extractor"], self._shared["reference"]

  def run(self, samples: np.ndarray, requested=None) -> dict:
    """The metrics of `inception_metrics` for samples [N, H, W, C] in [-1, 1]."""
    del requested  # ImageNet's classes are not the dataset's
    extractor, reference = self._setup()
    ev = self.config.eval
    pool3, _ = extractor.activations(samples)
    return inception_metrics(
        pool3, extractor.score_logits(pool3), reference, is_splits=ev.is_splits,
        kid_subsets=ev.kid_subsets, kid_subset_size=ev.kid_subset_size, prdc_k=ev.prdc_k,
        rng=self.config.seed)

  def describe(self) -> dict:
    """The protocol, so the numbers can be put beside a paper's."""
    if not self._shared:
      return {}
    extractor, reference = self._setup()
    return {"inception": {
        "weights": extractor.metadata.get("source", self.config.eval.inception_weights),
        "weights_sha256": extractor.metadata.get("source_sha256"),
        "num_samples": self.num_samples,
        "reference": f"{self.config.dataset.name} train split, all "
                     f"{reference.num_images} images",
        "reference_features_kid_prdc": int(len(reference.features))}}
