"""jaxgan/augment.py and its use in the step: each transform against an independent
reference (numpy loops, closed-form colour maps), gradients against finite
differences, ADA's p rule on scripted critic outputs, per-example independence
(labels stay with their examples), the config's variant and rules, and runs on a
200-image folder with DiffAugment and with ADA (p rises, resume is bitwise, the
samples are not augmented)."""

import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from configs import nsgan, sngan, wgan_gp
from jaxgan import augment
from jaxgan import checkpoint as checkpoint_lib
from jaxgan import errors
from jaxgan import factory
from jaxgan import loop
from jaxgan import runs
from jaxgan import sample as sample_lib
from jaxgan import train
from jaxgan import validation


def _image(shape=(8, 8, 3), seed=0):
  return np.tanh(np.random.default_rng(seed).normal(size=shape)).astype(np.float32)


# --- DiffAugment against numpy loops -------------------------------------------------


def _translate_loop(x, dy, dx):
  h, w, _ = x.shape
  out = np.zeros_like(x)
  for i in range(h):
    for j in range(w):
      if 0 <= i + dy < h and 0 <= j + dx < w:
        out[i, j] = x[i + dy, j + dx]
  return out


def _cutout_loop(x, cy, cx, sh, sw):
  h, w, _ = x.shape
  out = x.copy()
  for i in range(h):
    for j in range(w):
      if cy - sh // 2 <= i < cy - sh // 2 + sh and cx - sw // 2 <= j < cx - sw // 2 + sw:
        out[i, j] = 0
  return out


def test_translation_and_cutout_match_numpy_loops_at_every_offset():
  x = _image((8, 6, 2))
  for dy in range(-3, 4):
    for dx in (-2, 0, 1, 5):
      np.testing.assert_array_equal(augment.translate(x, dy, dx), _translate_loop(x, dy, dx))
  for cy in range(0, 9):
    for cx in (0, 3, 6):
      np.testing.assert_array_equal(augment.cutout(x, cy, cx, 4, 3),
                                    _cutout_loop(x, cy, cx, 4, 3))


def test_diffaugment_draws_the_authors_ranges_on_8x8():
  """ratio 1/8 on 8 pixels: shifts of -1..1 per axis; ratio 1/2: a 4x4 square
  whose centre runs over 0..8 (rand_translation, rand_cutout)."""
  assert augment.max_shift(8, 0.125) == 1 and augment.cutout_size(8, 0.5) == 4
  assert augment.max_shift(32, 0.125) == 4 and augment.cutout_size(32, 0.5) == 16
  x = _image((8, 8, 1))
  keys = jax.random.split(jax.random.PRNGKey(0), 200)
  shifted = np.asarray(jax.vmap(lambda k: augment.diffaugment_one(k, x, ("translation",)))(keys))
  candidates = {(dy, dx): _translate_loop(x, dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
  seen = {next(s for s, c in candidates.items() if np.array_equal(c, out)) for out in shifted}
  assert seen == set(candidates)  # every shift, and nothing else
  cut = np.asarray(jax.vmap(lambda k: augment.diffaugment_one(k, x, ("cutout",)))(keys))
  cuts = {(cy, cx): _cutout_loop(x, cy, cx, 4, 4) for cy in range(9) for cx in range(9)}
  seen = {next(s for s, c in cuts.items() if np.array_equal(c, out)) for out in cut}
  assert len(seen) > 40 and {s[0] for s in seen} == set(range(9))


def test_colour_ops_are_the_closed_forms():
  x = _image()
  mean_c = x.mean(axis=-1, keepdims=True)
  np.testing.assert_allclose(augment.brightness(x, 0.9), x + 0.4, atol=1e-6)
  np.testing.assert_allclose(augment.saturation(x, 0.25), (x - mean_c) * 0.5 + mean_c,
                             atol=1e-6)
  np.testing.assert_allclose(augment.contrast(x, 0.0), (x - x.mean()) * 0.5 + x.mean(),
                             atol=1e-6)
  # The colour part draws U[0, 1) three times: brightness, saturation, contrast.
  key = jax.random.PRNGKey(3)
  u = np.asarray(jax.random.uniform(jax.random.fold_in(key, 0), (3,)))
  y = x + (u[0] - 0.5)
  y = (y - y.mean(-1, keepdims=True)) * 2 * u[1] + y.mean(-1, keepdims=True)
  y = (y - y.mean()) * (u[2] + 0.5) + y.mean()
  np.testing.assert_allclose(augment.diffaugment_one(key, x, ("color",)), y, atol=1e-5)


# --- ADA against references ----------------------------------------------------------


_ada_one = jax.jit(augment.ada_one, static_argnums=3)


def _only(op, x, p=1.0, seed=0):
  return np.asarray(_ada_one(jax.random.PRNGKey(seed), x, p, (op,)))


def test_ada_at_p_zero_is_exactly_the_identity():
  x = _image()
  np.testing.assert_array_equal(_ada_one(jax.random.PRNGKey(1), x, 0.0, augment.ADA_OPS), x)


def test_ada_integer_transforms_are_exact_pixel_permutations():
  x = _image()
  flips, rots, shifts = set(), set(), set()
  for seed in range(24):
    out = _only("xflip", x, seed=seed)
    flips.add(next(i for i, c in enumerate([x, x[:, ::-1]]) if np.allclose(c, out, atol=1e-6)))
    out = _only("rotate90", x, seed=seed)
    rots.add(next(k for k in range(4) if np.allclose(np.rot90(x, k, (0, 1)), out, atol=1e-6)))
    out = _only("xint", x, seed=seed)  # round(U[-1/8, 1/8] * 8): -1, 0 or 1, reflected
    shifts.add(next((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if np.allclose(
        np.pad(x, ((1, 1), (1, 1), (0, 0)), mode="reflect")[1 - dy:9 - dy, 1 - dx:9 - dx],
        out, atol=1e-6)))
  assert flips == {0, 1} and rots == {0, 1, 2, 3} and len(shifts) > 4


def _bilinear_reflect_loop(x, g_inv):
  """The warp by hand: each output pixel's source point, bilinear, reflect padding."""
  h, w, _ = x.shape
  def refl(i, n):
    i = abs(i) % (2 * (n - 1))
    return 2 * (n - 1) - i if i >= n else i
  out = np.zeros_like(x)
  for r in range(h):
    for c in range(w):
      sx, sy, _ = g_inv @ np.array([c - (w - 1) / 2, r - (h - 1) / 2, 1.0])
      col, row = sx + (w - 1) / 2, sy + (h - 1) / 2
      r0, c0 = int(np.floor(row)), int(np.floor(col))
      fr, fc = row - r0, col - c0
      for dr, wr in ((0, 1 - fr), (1, fr)):
        for dc, wc in ((0, 1 - fc), (1, fc)):
          out[r, c] += wr * wc * x[refl(r0 + dr, h), refl(c0 + dc, w)]
  return out


def test_ada_warp_matches_a_bilinear_reflect_loop_for_a_general_affine():
  x = _image((7, 9, 3))
  theta, s = 0.7, 1.3
  g_inv = np.array([[np.cos(theta) * s, -np.sin(theta), 1.7],
                    [np.sin(theta), np.cos(theta) / s, -2.2], [0, 0, 1]], np.float32)
  np.testing.assert_allclose(augment.warp(x, jnp.asarray(g_inv)),
                             _bilinear_reflect_loop(x, g_inv), atol=1e-5)


def test_ada_colour_transforms_are_stylegan2_adas_maps():
  x = _image()
  v = np.ones(3) / np.sqrt(3)
  luma = x @ v
  # Luma flip: a Householder reflection of the colour about the luma axis.
  outs = [_only("lumaflip", x, seed=s) for s in range(8)]
  flipped = x - 2 * luma[..., None] * v
  assert any(np.allclose(o, flipped, atol=1e-5) for o in outs)
  assert all(np.allclose(o, flipped, atol=1e-5) or np.allclose(o, x, atol=1e-5) for o in outs)
  # Hue rotation keeps the luma and every colour's distance to the grey axis.
  out = _only("hue", x)
  np.testing.assert_allclose(out @ v, luma, atol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(out - (out @ v)[..., None] * v, axis=-1),
                             np.linalg.norm(x - luma[..., None] * v, axis=-1), atol=1e-5)
  # Saturation scales the chroma by one factor and keeps the luma.
  out = _only("saturation", x)
  chroma_in, chroma_out = x - luma[..., None] * v, out - (out @ v)[..., None] * v
  factor = np.sum(chroma_out * chroma_in) / np.sum(chroma_in ** 2)
  np.testing.assert_allclose(chroma_out, factor * chroma_in, atol=1e-5)
  # Brightness adds one offset, contrast multiplies by one factor.
  offset = _only("brightness", x) - x
  np.testing.assert_allclose(offset, offset.flat[0], atol=1e-6)
  ratio = _only("contrast", x) / x
  np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-4)
  # Grey: the mean of the matrix's RGB rows (augment.py's apply_color on 1 channel).
  c_mat = np.asarray(augment.color_matrix(jax.random.PRNGKey(5), 1.0, 3))
  grey = x[..., :1]
  row = c_mat[:3].mean(axis=0)
  np.testing.assert_allclose(augment.apply_color(grey, jnp.asarray(c_mat)),
                             grey * row[:3].sum() + row[3], atol=1e-6)


def test_gradients_through_both_augmentations_match_finite_differences():
  """<grad of sum(w * aug(x)), d> against the central difference along d, in float64."""
  with jax.enable_x64(True):
    rng = np.random.default_rng(1)
    x, w, d = (jnp.asarray(rng.normal(size=(5, 5, 3))) for _ in range(3))
    key = jax.random.PRNGKey(2)
    for aug in (lambda x: augment.diffaugment_one(key, x),
                lambda x: augment.ada_one(key, x, 1.0)):
      f = jax.jit(lambda x, aug=aug: jnp.sum(w * aug(x)))
      eps = 1e-5
      numeric = (f(x + eps * d) - f(x - eps * d)) / (2 * eps)
      analytic = jnp.sum(jax.jit(jax.grad(f))(x) * d)
      assert float(analytic) == pytest.approx(float(numeric), rel=1e-6, abs=1e-8)
      assert float(jnp.abs(analytic)) > 1e-3  # a real dependence, not 0 = 0


def test_every_example_is_augmented_alone_so_labels_stay_with_it():
  spec = augment.AugmentSpec(name="ada")
  x = np.stack([_image(seed=i) for i in range(5)])
  keys = jax.random.split(jax.random.PRNGKey(0), 5)
  batched = jax.jit(functools.partial(augment.augment, spec))
  batch = np.asarray(batched(keys, x, 0.8))
  for i in range(5):
    np.testing.assert_allclose(batch[i], _ada_one(keys[i], x[i], 0.8, augment.ADA_OPS),
                               atol=1e-6)
  # A changed neighbour changes nothing else (no batch statistics).
  x2 = x.copy()
  x2[0] += 1.0
  np.testing.assert_array_equal(
      np.asarray(batched(keys, x2, 0.8))[1:], batch[1:])


# --- ADA's p ------------------------------------------------------------------------


def test_ada_p_follows_stylegan2_adas_rule_on_scripted_critic_outputs():
  spec = augment.AugmentSpec(name="ada", ada_target=0.6, ada_interval=2, ada_kimg=0.1)
  # Each step: reals' scores; adjust = sign(r_t - 0.6) * (10 x 2) / 100 = +-0.2.
  scores = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1] * 10,              # r_t 1    -> p 0.2
            [1] * 8 + [-1] * 2, [1] * 10,                          # r_t 0.8  -> p 0.4
            [-1] * 10, [1] * 5 + [-1] * 5,                         # r_t -0.5 -> p 0.2
            [-1] * 10, [-1] * 10, [-1] * 10, [-1] * 10]            # -> 0, floored: 0
  expected_p = [0, 0.2, 0.2, 0.4, 0.4, 0.2, 0.2, 0.0, 0.0, 0.0]
  expected_r = [0, 1, 1, 0.8, 0.8, -0.5, -0.5, -1, -1, -1]
  ada = augment.init_ada(0.0)
  for step, (d_real, p, r) in enumerate(zip(scores, expected_p, expected_r), start=1):
    sign = augment.ada_signs(jnp.asarray(d_real, jnp.float32), jnp.zeros(10), 0.0)
    ada = augment.ada_update(spec, ada, sign, step, images_per_step=10)
    assert float(ada["p"]) == pytest.approx(p, abs=1e-6), step
    assert float(ada["r_t"]) == pytest.approx(r, abs=1e-6), step


def test_a_fixed_p_never_moves_while_r_t_is_still_measured():
  spec = augment.AugmentSpec(name="ada", ada_interval=2, ada_kimg=0.1, p_init=0.3,
                             ada_fixed=True)
  ada = augment.init_ada(spec.p_init)
  for step in range(1, 7):  # every interval's reals all score above the boundary
    ada = augment.ada_update(spec, ada, jnp.asarray(1.0), step, images_per_step=10)
    assert float(ada["p"]) == pytest.approx(0.3), step
  assert float(ada["r_t"]) == 1.0


def test_a_fixed_p_of_zero_or_a_p_above_one_is_refused_before_training():
  config = nsgan.get_config("dataset=digits,augment=ada")
  config.augment.ada_fixed = True
  with pytest.raises(errors.ConfigError, match=r"augment.p_init.*\(0, 1\] with augment.ada_fixed"):
    validation.validate(config)
  config.augment.ada_fixed = False
  config.augment.p_init = 1.5
  with pytest.raises(errors.ConfigError, match=r"augment.p_init must be in \[0, 1\], got 1.5"):
    validation.validate(config)


def test_wasserstein_heuristic_ignores_the_critics_offset_and_scale():
  rng = np.random.default_rng(0)
  d_real, d_fake = rng.normal(1.0, 1.0, 64), rng.normal(-1.0, 1.0, 64)
  base = float(augment.ada_signs(d_real, d_fake, None))
  for shift, scale in ((100.0, 1.0), (-7.0, 0.01), (3.0, 50.0)):
    assert float(augment.ada_signs(scale * d_real + shift, scale * d_fake + shift,
                                   None)) == base
  # sign(D(real)) alone follows the offset a Wasserstein loss leaves free.
  assert float(augment.ada_signs(d_real - 100, d_fake - 100, 0.0)) == -1.0
  assert float(augment.ada_signs(d_real, d_real, None)) == pytest.approx(0.0, abs=0.1)


def test_the_heuristic_is_chosen_per_loss():
  for recipe, variant, threshold in [(wgan_gp, "augment=ada", None),
                                     (nsgan, "augment=ada", 0.0),
                                     (sngan, "augment=ada", 0.0)]:
    assert factory.ada_threshold(recipe.get_config(variant)) == threshold
  from configs import lsgan  # pylint: disable=g-import-not-at-top
  assert factory.ada_threshold(lsgan.get_config("augment=ada")) == 0.5  # (a + b) / 2


# --- Config --------------------------------------------------------------------------


def test_every_recipe_takes_the_augment_variant_and_toy_data_refuses_it():
  from configs import dragan, lsgan, wgan  # pylint: disable=g-import-not-at-top
  for recipe in (wgan, wgan_gp, dragan, lsgan, nsgan, sngan):
    for name in ("none", "diffaug", "ada"):
      assert recipe.get_config(f"augment={name}").augment.name == name
  with pytest.raises(ValueError, match="unknown augment 'flip'; allowed: none, diffaug, ada"):
    wgan_gp.get_config("augment=flip")
  with pytest.raises(errors.ConfigError,
                     match=r"^augment.name 'diffaug' augments images; toy 2-D points allow "
                           r"only 'none'$"):
    validation.validate(wgan_gp.get_config("dataset=8gaussians,augment=diffaug"))
  config = wgan_gp.get_config("augment=diffaug")
  config.augment.policy = "color,blur"
  with pytest.raises(errors.ConfigError, match="augment.policy must be comma-separated"):
    validation.validate(config)


def test_augment_none_leaves_the_state_as_before():
  run = runs.setup(nsgan.get_config())
  assert run.spec.augment.name == "none" and run.abstract_state.augment == {}


# --- Runs on a 200-image folder -------------------------------------------------------


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
  """200 PNGs of sklearn's digits, 20 per class in class sub-folders."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  digits = datasets.load_digits()
  root = tmp_path_factory.mktemp("digit_folder")
  for label in range(10):
    os.makedirs(root / str(label))
    for n, i in enumerate(np.flatnonzero(digits.target == label)[:20]):
      pixels = (digits.images[i] * 255 / 16).round().astype(np.uint8)
      Image.fromarray(pixels, mode="L").save(root / str(label) / f"{n:02d}.png")
  return str(root)


def _folder_config(recipe, variant, path, steps):
  config = recipe.get_config(variant)
  config.dataset.path = path
  config.dataset.image_size = 8
  config.model.hidden = (32, 32)
  config.train.batch_size = 16
  config.train.num_steps = steps
  config.log.every = 1
  config.log.checkpoint_every = 2
  config.log.sample_every = steps
  config.log.eval_every = 0
  return config


def _records(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


@pytest.mark.slow
def test_wgan_gp_trains_on_a_200_image_folder_with_diffaugment(digit_folder, tmp_path):
  config = _folder_config(wgan_gp, "dataset=folder,arch=mlp,augment=diffaug", digit_folder, 2)
  config.train.n_critic = 1  # one critic update: the smallest program to compile
  state = loop.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 2 and state.augment == {}
  records = [r for r in _records(str(tmp_path)) if "critic/loss" in r]
  assert len(records) == 2 and all(np.isfinite(r["critic/penalty"]) for r in records)
  assert os.path.exists(tmp_path / "samples" / "step_000002.npy")


@pytest.mark.slow
def test_ada_on_a_200_image_folder_raises_p_resumes_bitwise_and_samples_unaugmented(
    digit_folder, tmp_path):
  def config(steps):
    c = _folder_config(nsgan, "dataset=folder,arch=mlp,augment=ada", digit_folder, steps)
    # p moves by 16 reals x 1 step / (0.128 x 1000) = 0.125 per update: it rises as
    # soon as the critic tells the reals apart (r_t > 0.6) and never goes below 0.
    c.augment.ada_kimg = 0.128
    c.augment.ada_interval = 1
    return c

  straight = loop.train_and_evaluate(config(4), str(tmp_path / "straight"))
  loop.train_and_evaluate(config(2), str(tmp_path / "split"))
  resumed = loop.train_and_evaluate(config(4), str(tmp_path / "split"))
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  records = [r for r in _records(str(tmp_path / "straight")) if "augment/p" in r]
  assert len(records) == 4 and all(0 <= r["augment/p"] for r in records)
  assert max(r["augment/p"] for r in records) > 0, records
  assert float(straight.augment["p"]) == pytest.approx(records[-1]["augment/p"])
  # p is in the checkpoint: the step-4 state on disk holds the run's final p.
  run = runs.setup(config(4))
  step, restored, _ = run.restore(str(tmp_path / "split" / "checkpoints"))
  assert step == 4 and float(restored.augment["p"]) == float(straight.augment["p"])
  # The sample grid is the generator's own output on the fixed latents (eval mode),
  # with no augmentation although p > 0 now.
  z = sample_lib.fixed_latents(0, 100, run.spec.z_dim)
  own, _ = train.generate(run.spec, restored.generator_params,
                          restored.generator_batch_stats, z, train=False)
  saved = np.load(tmp_path / "straight" / "samples" / "step_000004.npy")
  np.testing.assert_allclose(saved, np.asarray(own), atol=1e-6)
  # Switching augmentation off in this run (ADA's state in its checkpoints) is
  # refused by the workdir, and, let through, by the checkpoint, naming the key.
  off = config(6)
  off.augment.name = "none"
  with pytest.raises(errors.WorkdirError, match="augment.name: 'ada' -> 'none'"):
    loop.train_and_evaluate(off, str(tmp_path / "split"))
  with pytest.raises(errors.IncompatibleCheckpointError, match="'augment' has 4 arrays there "
                     "and 0 here .*augment.name"):
    loop.train_and_evaluate(off, str(tmp_path / "split"), allow_config_change=True)
