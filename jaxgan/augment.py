"""Augmentations the critic sees: DiffAugment and ADA, pure and differentiable.

Every transform acts on one image [H, W, C] in [-1, 1] with its own PRNG key and
is vmapped over a batch, so example i's draws depend only on its key (the
caller gives example_keys(key, 0, B), jaxgan/rng.py): a batch split over devices
draws the same, and nothing mixes examples (a conditional critic's labels stay
with their examples). Gradients flow to the images (the random parameters are
constants), so the generator learns through the augmentation of its fakes.

DiffAugment (Zhao et al. 2020, mit-han-lab/data-efficient-gans
DiffAugment_pytorch.py / DiffAugment_tf.py): a policy of
  color        brightness x + U[-0.5, 0.5), saturation (x - mean_c) * U[0, 2) + mean_c,
               contrast (x - mean) * U[0.5, 1.5) + mean (rand_brightness,
               rand_saturation, rand_contrast), in that order;
  translation  an integer shift of up to round(ratio * size) pixels per axis, ratio
               1/8, uniform on [-shift, shift], zeros filled in (rand_translation);
  cutout       a square of round(ratio * size) pixels, ratio 1/2, zeroed at a uniform
               centre (rand_cutout).

ADA (Karras et al. 2020, NVlabs/stylegan2-ada-pytorch training/augment.py, the
'bgc' pipeline of train.py's augpipe_specs): each transform applied to each
example with probability p, with that file's magnitudes:
  geometric  xflip, rotate90, integer translation (xint_max 0.125), isotropic scaling
             (log2 std 0.2), rotation (full circle, split into a pre- and a
             post-rotation each with 1 - sqrt(1 - p)), anisotropic scaling (log2 std
             0.2), fractional translation (std 0.125): one inverse affine matrix per
             example, sampled bilinearly with reflect padding;
  colour     brightness (std 0.2), contrast (log2 std 0.5), luma flip, hue rotation
             (full circle), saturation (log2 std 1): one 4x4 colour matrix per example
             (hue and saturation only for 3 channels; a grey image gets the matrix's
             mean over the RGB rows, as the original).
Left out, and why: the 'f', 'n' and 'c' stages (image-space filtering, additive
noise, cutout) are not in 'bgc', the pipeline the paper recommends and the
original's default. One approximation: the original resamples geometric
transforms at twice the resolution between sym2 wavelet low-pass filters
(upfirdn2d) to limit aliasing; here the sampling is plain bilinear at the image's
own resolution. Integer transforms (flips, 90-degree rotations, integer shifts)
land on pixel centres and are exact either way; rotations and scalings alias more.

ADA's p (StyleGAN2-ADA training_loop.py): every ada_interval steps,
p <- max(0, p + sign(r_t - target) * images / (ada_kimg * 1000)), where images
is the number of reals the critic saw over the interval and r_t the mean of the
overfitting heuristic over it (`ada_signs`). With augment.ada_fixed p stays at
augment.p_init (train.py --aug=fixed --p), r_t still measured.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

NAMES = ("none", "diffaug", "ada")  # augment.name
DIFFAUG_OPS = ("color", "translation", "cutout")  # augment.policy's parts
ADA_OPS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac",
           "brightness", "contrast", "lumaflip", "hue", "saturation")  # 'bgc'
HEURISTICS = ("auto", "sign_real", "sign_real_vs_fake_mean")  # augment.ada_heuristic

# StyleGAN2-ADA training/augment.py AugmentPipe defaults (the 'bgc' magnitudes).
XINT_MAX = 0.125        # xint_max: integer translation range, fraction of the size
SCALE_STD = 0.2         # scale_std: log2 std of isotropic scaling
ROTATE_MAX = 1.0        # rotate_max: rotation range, 1 = full circle
ANISO_STD = 0.2         # aniso_std: log2 std of anisotropic scaling
XFRAC_STD = 0.125       # xfrac_std: fractional translation std, fraction of the size
BRIGHTNESS_STD = 0.2    # brightness_std
CONTRAST_STD = 0.5      # contrast_std: log2 std
HUE_MAX = 1.0           # hue_max: hue rotation range, 1 = full circle
SATURATION_STD = 1.0    # saturation_std: log2 std


@dataclasses.dataclass(frozen=True)
class AugmentSpec:
  """Static description of the augmentation (base_config documents each value)."""

  name: str = "none"                     # none | diffaug | ada
  policy: tuple[str, ...] = DIFFAUG_OPS  # diffaug: its parts, applied in this order
  translation_ratio: float = 0.125       # diffaug translation: shift / size
  cutout_ratio: float = 0.5              # diffaug cutout: square side / size
  ada_ops: tuple[str, ...] = ADA_OPS     # ada: the transforms applied with probability p
  ada_target: float = 0.6                # ada: the r_t that p steers towards
  ada_interval: int = 4                  # ada: steps between updates of p
  ada_kimg: float = 500.0                # ada: thousands of reals for p to move by 1
  p_init: float = 0.0                    # ada: p at the first step
  ada_fixed: bool = False                # ada: p stays at p_init (--aug=fixed)
  # ada: r_t's threshold: a number (sign(D(real) - it)) or None (the batch's mean
  # D(fake) instead), resolved from augment.ada_heuristic and the loss (factory.py).
  ada_threshold: float | None = 0.0


# --- DiffAugment -------------------------------------------------------------------


def brightness(x, u):
  """x + (u - 0.5), u ~ U[0, 1) (rand_brightness)."""
  return x + (u - 0.5)


def saturation(x, u):
  """Pull to (or push from) the per-pixel channel mean by 2u (rand_saturation)."""
  mean = jnp.mean(x, axis=-1, keepdims=True)
  return (x - mean) * (2.0 * u) + mean


def contrast(x, u):
  """Scale around the image mean by u + 0.5 (rand_contrast)."""
  mean = jnp.mean(x)
  return (x - mean) * (u + 0.5) + mean


def max_shift(size: int, ratio: float) -> int:
  """int(size * ratio + 0.5): the largest translation (rand_translation)."""
  return int(size * ratio + 0.5)


def translate(x, dy, dx):
  """out[i, j] = x[i + dy, j + dx], zero where that falls outside (rand_translation)."""
  x = jnp.asarray(x)
  h, w = x.shape[:2]
  rows = jnp.arange(h) + dy
  cols = jnp.arange(w) + dx
  valid = (((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :])
  gathered = x[jnp.clip(rows, 0, h - 1)][:, jnp.clip(cols, 0, w - 1)]
  return gathered * valid[..., None].astype(x.dtype)


def cutout_size(size: int, ratio: float) -> int:
  """int(size * ratio + 0.5): the cut square's side (rand_cutout)."""
  return int(size * ratio + 0.5)


def cutout(x, cy, cx, size_h: int, size_w: int):
  """Zeros rows [cy - size_h//2, +size_h) x columns [cx - size_w//2, +size_w) (clipped)."""
  x = jnp.asarray(x)
  h, w = x.shape[:2]
  rows = jnp.arange(h) - (cy - size_h // 2)
  cols = jnp.arange(w) - (cx - size_w // 2)
  inside = (((rows >= 0) & (rows < size_h))[:, None] & ((cols >= 0) & (cols < size_w))[None, :])
  return x * (1.0 - inside[..., None].astype(x.dtype))


def diffaugment_one(key, x, policy=DIFFAUG_OPS, translation_ratio=0.125, cutout_ratio=0.5):
  """DiffAugment of one image [H, W, C]; each part draws from its own fold of `key`."""
  x = jnp.asarray(x)
  h, w = x.shape[:2]
  for part in policy:
    k = jax.random.fold_in(key, DIFFAUG_OPS.index(part))
    if part == "color":
      u = jax.random.uniform(k, (3,), x.dtype)
      x = contrast(saturation(brightness(x, u[0]), u[1]), u[2])
    elif part == "translation":
      sh, sw = max_shift(h, translation_ratio), max_shift(w, translation_ratio)
      ky, kx = jax.random.split(k)
      x = translate(x, jax.random.randint(ky, (), -sh, sh + 1),
                    jax.random.randint(kx, (), -sw, sw + 1))
    elif part == "cutout":
      ch, cw = cutout_size(h, cutout_ratio), cutout_size(w, cutout_ratio)
      ky, kx = jax.random.split(k)
      # Centres on [0, size + (1 - side % 2)), as rand_cutout's offsets.
      x = cutout(x, jax.random.randint(ky, (), 0, h + 1 - ch % 2),
                 jax.random.randint(kx, (), 0, w + 1 - cw % 2), ch, cw)
    else:
      raise ValueError(f"unknown DiffAugment part {part!r}; allowed: {', '.join(DIFFAUG_OPS)}")
  return x


# --- ADA ----------------------------------------------------------------------------


def _translate2d(tx, ty):
  return jnp.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def _scale2d(sx, sy):
  return jnp.array([[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, 1.0]])


def _rotate2d(theta):
  c, s = jnp.cos(theta), jnp.sin(theta)
  return jnp.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rotate3d(v, theta):
  """Rotation by theta about the unit axis v[:3] (Rodrigues), homogeneous 4x4."""
  c, s = jnp.cos(theta), jnp.sin(theta)
  axis = v[:3]
  cross = jnp.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]],
                     [-axis[1], axis[0], 0.0]])
  r = c * jnp.eye(3) + s * cross + (1.0 - c) * jnp.outer(axis, axis)
  return jnp.eye(4).at[:3, :3].set(r)


def _luma_axis():
  return jnp.array([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3.0)


def geometric_matrix(key, p, size, ops=ADA_OPS):
  """G_inv [3, 3]: output pixel (x, y, 1), centred on the image, -> input pixel.

  Each transform applies with probability p (the rotation's two halves with
  1 - sqrt(1 - p) each), composed in training/augment.py's order.
  """
  h, w = size
  g = jnp.eye(3)

  def draw(i):
    k_apply, k_value = jax.random.split(jax.random.fold_in(key, i))
    return k_apply, k_value

  def when(k_apply, prob, value, identity):
    return jnp.where(jax.random.uniform(k_apply) < prob, value, identity)

  if "xflip" in ops:
    a, v = draw(0)
    i = when(a, p, jnp.floor(jax.random.uniform(v) * 2), 0.0)
    g = g @ _scale2d(1.0 - 2.0 * i, 1.0)  # its own inverse
  if "rotate90" in ops:
    a, v = draw(1)
    i = when(a, p, jnp.floor(jax.random.uniform(v) * 4), 0.0)
    g = g @ _rotate2d(jnp.pi / 2 * i)  # rotate2d_inv(-pi/2 i)
  if "xint" in ops:
    a, v = draw(2)
    t = when(a, p, (jax.random.uniform(v, (2,)) * 2 - 1) * XINT_MAX, jnp.zeros(2))
    g = g @ _translate2d(-jnp.round(t[0] * w), -jnp.round(t[1] * h))
  if "scale" in ops:
    a, v = draw(3)
    s = when(a, p, jnp.exp2(jax.random.normal(v) * SCALE_STD), 1.0)
    g = g @ _scale2d(1.0 / s, 1.0 / s)
  p_rot = 1.0 - jnp.sqrt(jnp.clip(1.0 - p, 0.0, 1.0))  # P(pre or post) = p
  if "rotate" in ops:
    a, v = draw(4)
    theta = when(a, p_rot, (jax.random.uniform(v) * 2 - 1) * jnp.pi * ROTATE_MAX, 0.0)
    g = g @ _rotate2d(theta)  # rotate2d_inv(-theta), before the anisotropic scaling
  if "aniso" in ops:
    a, v = draw(5)
    s = when(a, p, jnp.exp2(jax.random.normal(v) * ANISO_STD), 1.0)
    g = g @ _scale2d(1.0 / s, s)
  if "rotate" in ops:
    a, v = draw(6)
    theta = when(a, p_rot, (jax.random.uniform(v) * 2 - 1) * jnp.pi * ROTATE_MAX, 0.0)
    g = g @ _rotate2d(theta)  # after the anisotropic scaling
  if "xfrac" in ops:
    a, v = draw(7)
    t = when(a, p, jax.random.normal(v, (2,)) * XFRAC_STD, jnp.zeros(2))
    g = g @ _translate2d(-t[0] * w, -t[1] * h)
  return g


def reflect_index(i, n: int):
  """Index i reflected into [0, n) without repeating the edge (torch pad 'reflect')."""
  if n == 1:
    return jnp.zeros_like(i)
  period = 2 * (n - 1)
  m = jnp.mod(i, period)
  return jnp.where(m >= n, period - m, m)


def warp(x, g_inv):
  """x [H, W, C] resampled at G_inv @ (output pixel): bilinear, reflect padding."""
  h, w = x.shape[:2]
  ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32) - (h - 1) / 2,
                        jnp.arange(w, dtype=jnp.float32) - (w - 1) / 2, indexing="ij")
  src = jnp.einsum("ij,jhw->ihw", g_inv, jnp.stack([xs, ys, jnp.ones_like(xs)]))
  col, row = src[0] + (w - 1) / 2, src[1] + (h - 1) / 2
  r0, c0 = jnp.floor(row), jnp.floor(col)
  fr, fc = (row - r0)[..., None], (col - c0)[..., None]
  r0, c0 = r0.astype(jnp.int32), c0.astype(jnp.int32)

  def at(r, c):
    return x[reflect_index(r, h), reflect_index(c, w)]

  top = at(r0, c0) * (1 - fc) + at(r0, c0 + 1) * fc
  bottom = at(r0 + 1, c0) * (1 - fc) + at(r0 + 1, c0 + 1) * fc
  return (top * (1 - fr) + bottom * fr).astype(x.dtype)


def color_matrix(key, p, channels: int, ops=ADA_OPS):
  """C [4, 4]: homogeneous colour transform, each part with probability p."""
  c_mat = jnp.eye(4)
  v = _luma_axis()

  def draw(i):
    return jax.random.split(jax.random.fold_in(key, 100 + i))

  def when(k_apply, value, identity):
    return jnp.where(jax.random.uniform(k_apply) < p, value, identity)

  if "brightness" in ops:
    a, k = draw(0)
    b = when(a, jax.random.normal(k) * BRIGHTNESS_STD, 0.0)
    c_mat = jnp.eye(4).at[:3, 3].set(b) @ c_mat
  if "contrast" in ops:
    a, k = draw(1)
    c = when(a, jnp.exp2(jax.random.normal(k) * CONTRAST_STD), 1.0)
    c_mat = jnp.diag(jnp.array([1.0, 1.0, 1.0, 0.0]) * c + jnp.array([0, 0, 0, 1.0])) @ c_mat
  if "lumaflip" in ops:
    a, k = draw(2)
    i = when(a, jnp.floor(jax.random.uniform(k) * 2), 0.0)
    c_mat = (jnp.eye(4) - 2.0 * jnp.outer(v, v) * i) @ c_mat  # Householder reflection
  if "hue" in ops and channels > 1:
    a, k = draw(3)
    theta = when(a, (jax.random.uniform(k) * 2 - 1) * jnp.pi * HUE_MAX, 0.0)
    c_mat = _rotate3d(v, theta) @ c_mat
  if "saturation" in ops and channels > 1:
    a, k = draw(4)
    s = when(a, jnp.exp2(jax.random.normal(k) * SATURATION_STD), 1.0)
    c_mat = (jnp.outer(v, v) + (jnp.eye(4) - jnp.outer(v, v)) * s) @ c_mat
  return c_mat


def apply_color(x, c_mat):
  """x [H, W, C] under C: RGB through C[:3]; grey through the mean of its RGB rows."""
  if x.shape[-1] == 3:
    return (x @ c_mat[:3, :3].T + c_mat[:3, 3]).astype(x.dtype)
  if x.shape[-1] == 1:
    row = jnp.mean(c_mat[:3], axis=0)
    return (x * jnp.sum(row[:3]) + row[3]).astype(x.dtype)
  raise ValueError(f"ADA's colour transforms need 1 or 3 channels, got {x.shape[-1]}")


_GEOMETRIC = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
_COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")


def ada_one(key, x, p, ops=ADA_OPS):
  """ADA of one image [H, W, C]: the geometric warp, then the colour matrix."""
  x = jnp.asarray(x)
  k_geom, k_color = jax.random.split(key)
  if any(op in ops for op in _GEOMETRIC):
    x = warp(x, geometric_matrix(k_geom, p, x.shape[:2], ops))
  if any(op in ops for op in _COLOR):
    x = apply_color(x, color_matrix(k_color, p, x.shape[-1], ops))
  return x


# --- The batch and ADA's controller -------------------------------------------------


def augment(spec: AugmentSpec, keys, x, p=None):
  """x [B, H, W, C] augmented per example (keys [B]); `p`: ADA's probability."""
  if spec.name == "none":
    return x
  if spec.name == "diffaug":
    return jax.vmap(lambda k, xi: diffaugment_one(
        k, xi, spec.policy, spec.translation_ratio, spec.cutout_ratio))(keys, x)
  return jax.vmap(lambda k, xi: ada_one(k, xi, p, spec.ada_ops))(keys, x)


def ada_signs(d_real, d_fake, threshold):
  """The batch's mean overfitting sign: mean(sign(D(real) - t)), t = `threshold`, or
  the batch's mean D(fake) when it is None (a Wasserstein critic, see base_config)."""
  t = jnp.mean(d_fake) if threshold is None else threshold
  return jnp.mean(jnp.sign(d_real - t))


def init_ada(p_init: float) -> dict:
  """ADA's state: p, the last r_t, and the running sum and count of step signs."""
  zero = jnp.zeros((), jnp.float32)
  return {"p": jnp.asarray(p_init, jnp.float32), "r_t": zero, "sign_sum": zero,
          "sign_count": zero}


def ada_update(spec: AugmentSpec, ada: dict, step_sign, step, images_per_step: int) -> dict:
  """ADA's state after a step whose reals' mean sign was `step_sign`.

  `step` is the number of steps done after this one; every ada_interval steps
  r_t = the interval's mean sign and p moves by sign(r_t - target) * images over
  the interval / (ada_kimg * 1000), floored at 0 (training_loop.py); with
  spec.ada_fixed p stays where it is and only r_t is updated.
  """
  sign_sum = ada["sign_sum"] + step_sign
  count = ada["sign_count"] + 1.0
  due = step % spec.ada_interval == 0
  r_t = sign_sum / count
  adjust = (jnp.sign(r_t - spec.ada_target) * (images_per_step * spec.ada_interval)
            / (spec.ada_kimg * 1000.0))
  zero = jnp.zeros((), jnp.float32)
  p = ada["p"] if spec.ada_fixed else jnp.where(due, jnp.maximum(ada["p"] + adjust, 0.0),
                                                 ada["p"])
  return {"p": p,
          "r_t": jnp.where(due, r_t, ada["r_t"]),
          "sign_sum": jnp.where(due, zero, sign_sum),
          "sign_count": jnp.where(due, zero, count)}
