"""Drawing samples: a fixed latent batch, image grids, toy scatter plots, latent walks.

Every sample (grids, evaluations, a population's picture, jaxgan.generator.Generator and
its exported artifact) comes from `generate_eval`, the one generator function, from latents that depend only on the seed, so grids from
different steps, or from a checkpoint restored months later, compare image for
image. How its BatchNorm layers normalise is the run's `model.sample_bn_stats`
(the StepSpec's `sample_bn_stats`):
  running  evaluation mode, BatchNorm's running averages: a sample depends on its
           latent alone (SNGAN's Chainer code in test mode; PyTorch's eval()).
  batch    training-mode normalisation of each consecutive batch of
           BATCH_STATS_SIZE = 100 latents with its own statistics (a shorter last
           batch with its own), running averages untouched: the WGAN-GP authors'
           gan_cifar_resnet.py, whose tflib batchnorm always normalises with the
           batch's statistics and which draws its sample grid and every Inception-score
           batch as Generator(100, ...).
Outputs are in the data's convention (v / 127.5 - 1): a generator trained on
dataset.pixel_scaling="half_open" reals is mapped back (train.from_training_pixels).
`write_grids` writes one run's (or member's) grids for training and --mode=sample
alike, or an interpolation grid (`interpolate_latents`: slerp or lerp);
`write_members_picture` a population's one picture of all its members.

A class-conditional run's grid has one row per class, titled by its name, and
column j is the same latent z_j under every class: a row shows what the label
changes and a column what it keeps.

Colours of the toy plots, everywhere: real data blue, generated samples orange.
"""

from __future__ import annotations

import functools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
from PIL import ImageDraw

from jaxgan import rng as rng_lib
from jaxgan import train as train_lib
from jaxgan.data import toy as toy_data

REAL_COLOUR = "tab:blue"
GENERATED_COLOUR = "tab:orange"

# Stream id of the fixed sample latents (rng.stream_key); disjoint from the
# training stream, which splits rng.run_key(seed).
_SAMPLE_STREAM = 0x5A3D1E


def stream_latents(seed: int, stream: int, num: int, z_dim: int):
  """Latents [num, z_dim] fixed by (seed, stream): rng.stream_key(seed, stream)."""
  return rng_lib.normal(rng_lib.example_keys(rng_lib.stream_key(seed, stream), 0, num),
                        (z_dim,))


def fixed_latents(seed: int, num: int, z_dim: int):
  """The fixed latent batch [num, z_dim] used for every sample grid of a run."""
  return stream_latents(seed, _SAMPLE_STREAM, num, z_dim)


def truncated_latents(seed: int, num: int, z_dim: int, threshold: float):
  """fixed_latents(seed, num, z_dim) with every coordinate beyond +-threshold redrawn
  inside it: BigGAN's truncation trick (Brock et al. 2019, Sec. 3.1: "values which
  fall outside a range are resampled to fall inside that range"), whose result is
  N(0, 1) truncated to [-threshold, threshold]. The redraw is one truncated-normal
  draw per coordinate from a stream of its own, so coordinates already inside keep
  their values and a large threshold leaves the latents as they were."""
  return _truncated(seed, threshold, num, z_dim)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _truncated(seed, threshold, num: int, z_dim: int):
  z = fixed_latents(seed, num, z_dim)
  keys = rng_lib.example_keys(rng_lib.stream_key(seed, _TRUNCATION_STREAM), 0, num)
  inside = jax.vmap(lambda k: jax.random.truncated_normal(
      k, -threshold, threshold, (z_dim,), jnp.float32))(keys)
  return jnp.where(jnp.abs(z) > threshold, inside, z)


# Stream id of the truncation trick's redraws (rng.stream_key), beside _SAMPLE_STREAM.
_TRUNCATION_STREAM = 0x7C4B2F

INTERPOLATIONS = ("slerp", "lerp")


def interpolate_latents(z0, z1, steps: int, method: str = "slerp"):
  """`steps` latents [..., steps, z_dim] from z0 to z1 ([..., z_dim]), both included.

  "slerp": along the great circle, scaled between the two norms (White 2016,
  "Sampling Generative Networks", Sec. 2.1; a Gaussian latent's mass lies near a
  sphere, which a straight line cuts through); it keeps the norm of unit vectors.
  Nearly parallel latents fall back to "lerp", the straight line.
  """
  if method not in INTERPOLATIONS:
    raise ValueError(f"method={method!r} is not an interpolation: use one of "
                     f"{', '.join(INTERPOLATIONS)}")
  if steps < 2:
    raise ValueError(f"steps={steps}: an interpolation needs at least 2 (its two ends)")
  return _path(jnp.asarray(z0, jnp.float32), jnp.asarray(z1, jnp.float32), steps, method)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _path(z0, z1, steps: int, method: str):
  z0, z1 = z0[..., None, :], z1[..., None, :]
  t = jnp.linspace(0.0, 1.0, steps, dtype=jnp.float32)[:, None]
  straight = (1.0 - t) * z0 + t * z1
  if method == "lerp":
    return straight
  unit0 = z0 / jnp.linalg.norm(z0, axis=-1, keepdims=True)
  unit1 = z1 / jnp.linalg.norm(z1, axis=-1, keepdims=True)
  omega = jnp.arccos(jnp.clip(jnp.sum(unit0 * unit1, axis=-1, keepdims=True), -1.0, 1.0))
  sin_omega = jnp.sin(omega)
  parallel = sin_omega < 1e-6  # sin(omega) ~ 0: the circle is the line
  safe = jnp.where(parallel, 1.0, sin_omega)
  curved = (jnp.sin((1.0 - t) * omega) * z0 + jnp.sin(t * omega) * z1) / safe
  return jnp.where(parallel, straight, curved)


def interpolation_inputs(seed: int, rows: int, steps: int, z_dim: int, num_classes: int = 0,
                         class_id: int | None = None, method: str = "slerp"):
  """(latents [rows * steps, z_dim], labels int32 or None) of an interpolation grid:
  row r walks from fixed latent 2r to fixed latent 2r + 1 in `steps`; a conditional
  run's row r is class r % num_classes (or `class_id` throughout)."""
  z = fixed_latents(seed, 2 * rows, z_dim)
  path = interpolate_latents(z[0::2], z[1::2], steps, method).reshape(rows * steps, z_dim)
  if not num_classes:
    return path, None
  row_class = (jnp.full((rows,), class_id, jnp.int32) if class_id is not None
               else jnp.arange(rows, dtype=jnp.int32) % num_classes)
  return path, jnp.repeat(row_class, steps)


def generators(config) -> tuple[tuple[str, bool], ...]:
  """(label, use_ema) of each generator a run reports: raw, and EMA when enabled."""
  return (("raw", False), ("ema", True)) if config.ema.enabled else (("raw", False),)


def class_grid_inputs(seed: int, num: int, z_dim: int, num_classes: int,
                      class_id: int | None = None):
  """(latents, labels int32) of a conditional run's grid: num_classes rows (class k)
  of max(1, num // num_classes) fixed latents; or `num` latents of class `class_id`."""
  if class_id is not None:
    return fixed_latents(seed, num, z_dim), jnp.full((num,), class_id, jnp.int32)
  cols = max(1, num // num_classes)
  z = fixed_latents(seed, cols, z_dim)
  return (jnp.tile(z, (num_classes, 1)),
          jnp.repeat(jnp.arange(num_classes, dtype=jnp.int32), cols))


# model.sample_bn_stats: BatchNorm's running averages, or each batch's own statistics.
SAMPLE_BN_STATS = ("running", "batch")
# The batch of the "batch" convention: gan_cifar_resnet.py's Generator(100, ...) for
# its sample grid (fixed_noise_samples) and Inception-score batches (samples_100).
BATCH_STATS_SIZE = 100

# Generator forward passes per jitted call (evaluation draws tens of thousands); a
# multiple of BATCH_STATS_SIZE.
_CHUNK = 1000


def generator_output(spec: train_lib.StepSpec, state: train_lib.GANState, z, *,
                     use_ema: bool = False, labels=None) -> np.ndarray:
  """Generator outputs for latents z (classes `labels` if conditional), as one host
  float32 array in the data's convention, computed in chunks of _CHUNK latents.

  BatchNorm normalises as spec.sample_bn_stats says (module docstring); the EMA
  weights (`use_ema`) share the raw generator's running averages.
  """
  params = state.ema_params if use_ema else state.generator_params
  chunks = []
  for i in range(0, z.shape[0], _CHUNK):
    samples = generate_eval_jit(spec, params, state.generator_batch_stats, z[i:i + _CHUNK],
                                None if labels is None else labels[i:i + _CHUNK])
    chunks.append(np.asarray(jax.device_get(samples), dtype=np.float32))
  return np.concatenate(chunks)


def generate_eval(spec: train_lib.StepSpec, params, batch_stats, z, labels=None):
  """The generator as every sample and evaluation runs it: a pure function of latents
  z [B, z_dim] (and classes `labels` [B]) -> samples [B, ...] in the data's convention.

  BatchNorm as spec.sample_bn_stats says (module docstring): with "batch", each
  consecutive BATCH_STATS_SIZE latents of z are one batch; a symbolic B (the
  jax.export artifact) makes the call's whole batch the one batch, so callers of the
  artifact reproduce the authors' Generator(100) by passing 100 latents.
  generator_output, jaxgan.generator.Generator and its exported artifact all call
  this one function."""
  if spec.sample_bn_stats == "batch" and batch_stats:
    if isinstance(z.shape[0], int):
      samples = _batch_stats_generate(spec, params, batch_stats, z, labels)
    else:
      samples, _ = train_lib.generate(spec, params, batch_stats, z, train=True, labels=labels)
  else:
    samples, _ = train_lib.generate(spec, params, batch_stats, z, train=False, labels=labels)
  return train_lib.from_training_pixels(samples, spec.pixel_scaling)


# generate_eval compiled once per (spec, shapes); spec is static.
generate_eval_jit = jax.jit(generate_eval, static_argnums=0)


def to_uint8(images: np.ndarray) -> np.ndarray:
  """Images in [-1, 1] -> uint8 pixels (x + 1) * 127.5, clipped, rounded to nearest."""
  return np.clip((np.asarray(images) + 1.0) * 127.5, 0, 255).round().astype(np.uint8)


def _batch_stats_generate(spec, params, batch_stats, z, labels):
  """Training-mode outputs of consecutive BATCH_STATS_SIZE batches of z (the last one
  shorter if need be), each normalised with its own statistics; nothing kept."""
  def batch(start, size):
    part = None if labels is None else labels[start:start + size]
    return train_lib.generate(spec, params, batch_stats, z[start:start + size], train=True,
                              labels=part)[0]
  full = z.shape[0] // BATCH_STATS_SIZE * BATCH_STATS_SIZE
  outs = []
  if full:
    # One vmapped computation over the full batches: BatchNorm inside sees one batch.
    zs = z[:full].reshape(-1, BATCH_STATS_SIZE, *z.shape[1:])
    ls = None if labels is None else labels[:full].reshape(-1, BATCH_STATS_SIZE)
    out = jax.vmap(lambda zb, lb: train_lib.generate(
        spec, params, batch_stats, zb, train=True, labels=lb)[0])(zs, ls)
    outs.append(out.reshape(full, *out.shape[2:]))
  if full < z.shape[0]:
    outs.append(batch(full, z.shape[0] - full))
  return jnp.concatenate(outs) if len(outs) > 1 else outs[0]



def describe_generator(spec: train_lib.StepSpec, state: train_lib.GANState,
                       use_ema: bool) -> dict:
  """How generator_output draws a generator's samples, for evaluation results: its
  weights (raw or EMA), its BatchNorm statistics and the reals' pixel scaling."""
  if not state.generator_batch_stats:
    norm = "none (no BatchNorm)"
  elif spec.sample_bn_stats == "batch":
    norm = f"batch statistics of each batch of {BATCH_STATS_SIZE} samples"
  else:
    norm = "running averages"
  return {"weights": "EMA" if use_ema else "raw", "batch_norm": norm,
          "pixel_scaling": spec.pixel_scaling}


def image_grid(images: np.ndarray, *, min_cell: int = 32,
               cols: int | None = None) -> np.ndarray:
  """[N, H, W, C] in [-1, 1] -> one uint8 image, row-major grid of `cols` columns
  (default: near-square), 1px gaps; cells under `min_cell` pixels are enlarged by
  an integer factor so 8x8 digits are visible."""
  n, h, w, c = images.shape
  cols = int(math.ceil(math.sqrt(n))) if cols is None else cols
  rows = int(math.ceil(n / cols))
  scale = max(1, int(math.ceil(min_cell / max(h, w))))
  pixels = to_uint8(images)
  pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
  h, w = h * scale, w * scale
  grid = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1, c), 255, np.uint8)
  for i in range(n):
    r, col = divmod(i, cols)
    grid[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + col * (w + 1):1 + col * (w + 1) + w] = pixels[i]
  return grid[..., 0] if c == 1 else grid


_TITLE_HEIGHT = 14  # pixels of the caption band above a grid (PIL's default font)
_ROW_TITLE_PAD = 4  # pixels either side of the row titles


def save_image_grid(images: np.ndarray, path: str, *, title: str = "",
                    row_titles=None, cols: int | None = None) -> None:
  """Writes the grid of `images` (`cols` columns) as a PNG, `title` in a band above
  it; with `row_titles`, one row per title, each titled in a band on its left."""
  if row_titles is not None:
    cols = len(images) // len(row_titles)
  grid = Image.fromarray(image_grid(images, cols=cols))
  if row_titles is not None:
    draw = ImageDraw.Draw(grid)
    band = int(max(draw.textlength(t) for t in row_titles)) + 2 * _ROW_TITLE_PAD
    row_height = (grid.height - 1) / len(row_titles)
    grid = _with_band(grid, left=band)
    draw = ImageDraw.Draw(grid)
    for r, text in enumerate(row_titles):
      draw.text((_ROW_TITLE_PAD, 1 + r * row_height + (row_height - 1 - 10) / 2), text,
                fill="black")
  if title:
    grid = _with_band(grid, top=_TITLE_HEIGHT)
    ImageDraw.Draw(grid).text((2, 1), title, fill="black")
  grid.save(path)


def _with_band(grid: Image.Image, *, left: int = 0, top: int = 0) -> Image.Image:
  """`grid` pasted below and right of a white band `top` high and `left` wide."""
  out = Image.new(grid.mode, (grid.width + left, grid.height + top), "white")
  out.paste(grid, (left, top))
  return out


def save_member_rows(samples: np.ndarray, path: str, *, title: str = "",
                     real: np.ndarray | None = None, labels=()) -> None:
  """One picture of a population's `samples` [K, N, ...]: images, member k's in row
  k; 2-D points, one scatter panel per member titled by `labels`."""
  if samples.ndim == 5:
    k, n = samples.shape[:2]
    save_image_grid(samples.reshape(k * n, *samples.shape[2:]), path, title=title, cols=n)
    return
  plt = _pyplot()
  k = samples.shape[0]
  cols = int(math.ceil(math.sqrt(k)))
  rows = int(math.ceil(k / cols))
  fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
  for i, ax in enumerate(axes.flat):
    if i >= k:
      ax.axis("off")
      continue
    if real is not None:
      ax.scatter(real[:, 0], real[:, 1], s=2, c=REAL_COLOUR, alpha=0.3)
    ax.scatter(samples[i, :, 0], samples[i, :, 1], s=2, c=GENERATED_COLOUR, alpha=0.6)
    ax.set_aspect("equal")
    ax.set_title(labels[i] if i < len(labels) else f"member {i}", fontsize=8)
  fig.suptitle(title)
  fig.savefig(path, dpi=80, bbox_inches="tight")
  plt.close(fig)


def save_scatter(points: np.ndarray, path: str, *, real: np.ndarray | None = None,
                 title: str = "") -> None:
  """Scatter plot of 2-D samples (orange) over real data (blue), as in gan_toy.py."""
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(5, 5))
  if real is not None:
    ax.scatter(real[:, 0], real[:, 1], s=4, c=REAL_COLOUR, alpha=0.4, label="real")
  ax.scatter(points[:, 0], points[:, 1], s=4, c=GENERATED_COLOUR, alpha=0.6,
             label="generated")
  ax.set_aspect("equal")
  ax.set_title(title)
  ax.legend(loc="upper right", fontsize=8)
  fig.savefig(path, dpi=100, bbox_inches="tight")
  plt.close(fig)


def _pyplot():
  """matplotlib.pyplot on the file-only Agg backend, imported when first needed."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def write_samples(samples: np.ndarray, directory: str, step: int, *,
                  real: np.ndarray | None = None, suffix: str = "",
                  label: str = "", row_titles=None, cols: int | None = None) -> dict:
  """Writes step_NNNNNN{suffix}.png (titled with the step and `label`, e.g. "ema
  generator"; one row per `row_titles`, or `cols` columns) and .npy into `directory`;
  returns their paths."""
  os.makedirs(directory, exist_ok=True)
  stem = os.path.join(directory, f"step_{step:06d}{suffix}")
  np.save(stem + ".npy", samples)
  title = f"step {step}" + (f", {label}" if label else "")
  if samples.ndim == 4:
    save_image_grid(samples, stem + ".png", title=title, row_titles=row_titles, cols=cols)
  else:
    save_scatter(samples, stem + ".png", real=real, title=title)
  return {"png": stem + ".png", "npy": stem + ".npy"}


def toy_reference(config, num: int) -> np.ndarray | None:
  """Real points drawn under a toy run's scatter plots (None for images)."""
  if config.dataset.name not in toy_data.TOY_DATASETS:
    return None
  return toy_data.sample(config.dataset.name, np.random.default_rng(config.seed), num)


def write_grids(spec: train_lib.StepSpec, state: train_lib.GANState, config,
                directory: str, step: int, *, num: int | None = None,
                suffix: str = "", class_names=(), class_id: int | None = None,
                interpolate: int = 0) -> dict:
  """Samples of every generator of the run (raw, EMA) for the fixed latents.

  Writes step_N{suffix}.{png,npy} (raw) and step_N_ema{suffix}.{png,npy} of `num`
  (default log.num_samples) samples; returns {label: paths}. A conditional run
  (`class_names` its classes) draws one row per class, with a _labels.npy of the
  classes, or with `class_id` that class alone, in files ending in _class<K>{suffix}.
  With `interpolate` = K instead: an interpolation grid (interpolation_inputs: K
  columns, max(1, num // K) rows, each a slerp between two fixed latents; a
  conditional run's rows titled by their class), in files ending in
  _interpolate<K>{suffix} (after _class<K> if given).
  """
  num = config.log.num_samples if num is None else num
  labels, row_titles, label_note, cols = None, None, "", None
  if spec.num_classes and len(class_names) != spec.num_classes:
    raise ValueError(f"{len(class_names)} class names for a run of {spec.num_classes} "
                     "classes")
  if spec.num_classes and class_id is not None:
    label_note = f"class {class_id} ({class_names[class_id]})"
  suffix = (f"_class{class_id}" if spec.num_classes and class_id is not None else "") + (
      f"_interpolate{interpolate}" if interpolate else "") + suffix
  if interpolate:
    rows = max(1, num // interpolate)
    z, labels = interpolation_inputs(config.seed, rows, interpolate, config.model.z_dim,
                                     spec.num_classes, class_id)
    cols = interpolate
    if spec.num_classes and class_id is None:
      row_titles = [class_names[int(k)] for k in np.asarray(labels)[::interpolate]]
    label_note = ", ".join(n for n in (label_note, "slerp between fixed latents") if n)
  elif spec.num_classes:
    z, labels = class_grid_inputs(config.seed, num, config.model.z_dim, spec.num_classes,
                                  class_id)
    if class_id is None:
      row_titles = list(class_names)
  else:
    z = fixed_latents(config.seed, num, config.model.z_dim)
  real = toy_reference(config, num * 10)
  out = {}
  for label, use_ema in generators(config):
    samples = generator_output(spec, state, z, use_ema=use_ema, labels=labels)
    notes = [n for n in (label_note, f"{label} generator" if use_ema else "") if n]
    out[label] = write_samples(
        samples, directory, step, real=real,
        suffix=("" if label == "raw" else f"_{label}") + suffix,
        label=", ".join(notes), row_titles=row_titles, cols=cols)
    if labels is not None:
      out[label]["labels"] = out[label]["npy"][:-len(".npy")] + "_labels.npy"
      np.save(out[label]["labels"], np.asarray(labels))
  return out


# Samples per member in a population's one picture (a row of the grid per member).
MEMBER_ROW = 10


def write_members_picture(spec: train_lib.StepSpec, members, config, directory: str,
                          step: int, *, suffix: str = "", note: str = "") -> str:
  """A population's one picture: DIR/step_N_members{suffix}.png; returns its path.

  The raw generator's first MEMBER_ROW samples of each of `members` ((runs.Member,
  host GANState) in index order), a row each (toy data: every sample, a panel
  each), titled with `note`; `config` is the population's.
  """
  num = config.log.num_samples
  rows = []
  for m, state in members:
    samples = generator_output(spec, state, fixed_latents(m.seed, num, config.model.z_dim))
    rows.append(samples if samples.ndim == 2 else samples[:MEMBER_ROW])
  path = os.path.join(directory, f"step_{step:06d}_members{suffix}.png")
  os.makedirs(directory, exist_ok=True)
  layout = "one panel per member" if rows[0].ndim == 2 else "one row per member"
  title = f"step {step}: {layout}, 0 to {len(rows) - 1}" + (f"; {note}" if note else "")
  save_member_rows(np.stack(rows), path, title=title, real=toy_reference(config, num * 10),
                   labels=[m.describe() for m, _ in members])
  return path
