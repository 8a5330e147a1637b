"""Tests of jaxgan.eval.inception (the FID Inception-v3) and the jaxgan.fid command line.

No test needs torch, the network or the real weights. The network is pinned by golden
values that benchmarks/references/fid_reference.py wrote: PyTorch's (pytorch-fid's) pool3 and
logits of three fixed images under seeded random weights, which this file regenerates
with NumPy and JAX. The resize is checked against two independent implementations of
PyTorch's formula; the weight conversion against the parameter count torchvision
documents. Network tests are marked slow (a forward pass costs ~11 GFLOP per image).
"""

import hashlib
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

import inception_testing
from jaxgan import fid
from jaxgan.eval import cache
from jaxgan.eval import inception
from jaxgan.eval import metrics

GOLDEN = os.path.join(os.path.dirname(__file__), "inception_golden.json")
SEED = 0


def golden_images():
  """The images benchmarks/references/fid_reference.py.golden_images() gave PyTorch."""
  return [inception_testing.calibration_pixels(1, 2, 28)[0, ..., :1],
          inception_testing.calibration_pixels(1, 2, 32)[1],
          inception_testing.calibration_pixels(2, 2, 64)[1]]


# ----------------------------------------------------------------------- resize


def _torch_bilinear_reference(image, out_h, out_w):
  """F.interpolate(bilinear, align_corners=False) written out per output pixel.

  For output index i: s = max((i + 0.5) * in / out - 0.5, 0), i0 = floor(s),
  i1 = min(i0 + 1, in - 1), weights (1 - (s - i0), s - i0); rows then columns. The
  coordinate s is computed in float32 as PyTorch's CPU kernel does for float32 images
  (area_pixel_compute_scale / _source_index with opmath float), one scalar at a time;
  the interpolation itself in float64.
  """
  in_h, in_w = image.shape[:2]
  f32 = np.float32

  def taps(in_size, out_size, i):
    scale = f32(in_size) / f32(out_size)
    s = max(float(scale * (f32(i) + f32(0.5)) - f32(0.5)), 0.0)
    i0 = min(int(np.floor(s)), in_size - 1)
    return i0, min(i0 + 1, in_size - 1), s - i0

  out = np.zeros((out_h, out_w) + image.shape[2:])
  for y in range(out_h):
    y0, y1, fy = taps(in_h, out_h, y)
    for x in range(out_w):
      x0, x1, fx = taps(in_w, out_w, x)
      top = (1 - fx) * image[y0, x0] + fx * image[y0, x1]
      bottom = (1 - fx) * image[y1, x0] + fx * image[y1, x1]
      out[y, x] = (1 - fy) * top + fy * bottom
  return out


@pytest.mark.parametrize("in_h,in_w,out_h,out_w", [
    (8, 8, 37, 37),     # upsampling, as 8x8 digits to 299
    (28, 20, 61, 45),   # non-square, odd factors
    (50, 50, 23, 23),   # downsampling: still two taps, no antialiasing
    (7, 7, 7, 7),       # same size: the identity
])
def test_resize_matrix_equals_pytorch_bilinear_formula(in_h, in_w, out_h, out_w):
  image = np.random.default_rng(0).uniform(size=(in_h, in_w, 3))
  got = np.einsum("oh,hwc,pw->opc", inception.bilinear_resize_matrix(in_h, out_h),
                  image, inception.bilinear_resize_matrix(in_w, out_w))
  np.testing.assert_allclose(got, _torch_bilinear_reference(image, out_h, out_w),
                             atol=1e-6, rtol=0)


def test_resize_matrix_is_exactly_the_identity_at_equal_size():
  np.testing.assert_array_equal(inception.bilinear_resize_matrix(299, 299), np.eye(299))


@pytest.mark.parametrize("in_size", [8, 32, 400])
def test_resize_to_input_equals_jax_image_resize_without_antialiasing(in_size):
  # jax.image.resize's triangle kernel with half-pixel centres and renormalised edge
  # weights is the same interpolation, implemented independently (scale_and_translate).
  x = np.random.default_rng(1).uniform(size=(2, in_size, in_size, 3)).astype(np.float32)
  expected = jax.image.resize(x, (2, 299, 299, 3), "linear", antialias=False)
  got = inception.resize_to_input(x)
  np.testing.assert_allclose(np.asarray(got), 2 * np.asarray(expected) - 1, atol=2e-6)


def test_resize_to_input_makes_grey_three_equal_channels_in_minus_one_one():
  grey = np.random.default_rng(2).uniform(size=(1, 16, 16, 1)).astype(np.float32)
  out = np.asarray(inception.resize_to_input(grey))
  rgb = np.asarray(inception.resize_to_input(np.repeat(grey, 3, axis=-1)))
  np.testing.assert_array_equal(out, rgb)
  np.testing.assert_array_equal(out[..., 0], out[..., 2])
  ends = np.asarray(inception.resize_to_input(np.stack([np.zeros((4, 4, 3)),
                                                        np.ones((4, 4, 3))])))
  np.testing.assert_array_equal(ends[0], -1.0)
  np.testing.assert_array_equal(ends[1], 1.0)


def test_resize_to_input_rejects_two_channels():
  with pytest.raises(ValueError, match="1 or 3 channels"):
    inception.resize_to_input(np.zeros((1, 8, 8, 2), np.float32))


def test_to_uint8_rounds_generated_images_as_the_png_writer_does():
  x = np.array([-1.0, -0.999, 0.0, 0.5, 1.0, 1.5, -2.0], np.float32)
  # (x + 1) * 127.5 -> 0, 0.1275, 127.5, 191.25, 255, clipped 318.75 and -127.5.
  np.testing.assert_array_equal(inception.to_uint8(x), [0, 0, 128, 191, 255, 255, 0])
  pixels = np.arange(256, dtype=np.uint8)
  assert inception.to_uint8(pixels) is pixels
  # A pixel stored by jaxgan's data pipeline (x / 127.5 - 1) comes back unchanged.
  np.testing.assert_array_equal(
      inception.to_uint8(pixels.astype(np.float32) / np.float32(127.5) - 1), pixels)


# ------------------------------------------------------------ weights and files


def test_network_has_torchvision_inception_v3_parameter_count_without_aux_head():
  # torchvision documents 27,161,264 parameters for inception_v3 (1000 classes, with
  # the auxiliary head). Its head: conv 768->128 1x1 (98,304) + BN (256), conv
  # 128->768 5x5 (2,457,600) + BN (1,536), fc 768->1000 (769,000) = 3,326,696.
  # The FID network has no head and 1008 classes: + 8 x 2048 weights + 8 biases.
  expected = 27_161_264 - 3_326_696 + 8 * 2048 + 8
  shapes = inception.variable_shapes()
  count = sum(int(np.prod(s.shape)) for s in jax.tree.leaves(shapes["params"]))
  assert count == expected == 23_850_960


def test_state_dict_round_trip_uses_pytorch_names_and_layouts():
  variables = inception_testing.seeded_variables(SEED)
  state = inception_testing.state_dict_from_variables(variables)
  assert state["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
  assert state["Mixed_6b.branch7x7_2.conv.weight"].shape == (128, 128, 1, 7)
  assert state["Mixed_7c.branch_pool.conv.weight"].shape == (192, 2048, 1, 1)
  assert state["fc.weight"].shape == (1008, 2048)
  assert state["Mixed_5b.branch_pool.bn.running_var"].shape == (32,)
  # [O, I, kh, kw] -> [kh, kw, I, O]: one weight read both ways.
  kernel = variables["params"]["Mixed_6b"]["branch7x7_2"]["conv"]["kernel"]
  assert state["Mixed_6b.branch7x7_2.conv.weight"][5, 3, 0, 6] == kernel[0, 6, 3, 5]
  back = inception.variables_from_state_dict(
      dict(state, **{"Conv2d_1a_3x3.bn.num_batches_tracked": np.int64(0)}))
  for a, b in zip(jax.tree.leaves(variables), jax.tree.leaves(back)):
    np.testing.assert_array_equal(a, b)


def test_state_dict_errors_name_the_problem():
  state = inception_testing.state_dict_from_variables(inception_testing.seeded_variables(SEED))
  imagenet = dict(state, **{"AuxLogits.fc.weight": np.zeros((1000, 768))})
  with pytest.raises(ValueError, match="torchvision's ImageNet"):
    inception.variables_from_state_dict(imagenet)
  missing = {k: v for k, v in state.items() if k != "Mixed_6e.branch1x1.bn.bias"}
  with pytest.raises(ValueError, match="Mixed_6e.branch1x1.bn.bias"):
    inception.variables_from_state_dict(missing)
  bad = dict(state, **{"Conv2d_2a_3x3.conv.weight": np.zeros((32, 32, 5, 5), np.float32)})
  with pytest.raises(ValueError, match="Conv2d_2a_3x3.conv.weight"):
    inception.variables_from_state_dict(bad)


def test_missing_weights_give_one_line_naming_the_file_and_where_to_get_it(tmp_path):
  path = str(tmp_path / "nowhere.pth")
  with pytest.raises(FileNotFoundError) as info:
    inception.load_weights(path)
  message = str(info.value)
  assert "\n" not in message
  assert inception.WEIGHTS_FILE in message and inception.WEIGHTS_URL in message
  assert path in message and "never downloads" in message


def test_npz_round_trip_and_pth_cache_beside_it_is_used_without_torch(tmp_path,
                                                                       monkeypatch):
  variables = inception_testing.seeded_variables(SEED)
  pth = tmp_path / "weights.pth"
  pth.write_bytes(b"stand-in for a PyTorch file")
  sha = hashlib.sha256(pth.read_bytes()).hexdigest()
  inception.save_npz(str(tmp_path / "weights.npz"), variables,
                     {"source": "weights.pth", "source_sha256": sha})
  monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
  loaded, metadata = inception.load_weights(str(pth))
  assert metadata["source_sha256"] == sha
  for a, b in zip(jax.tree.leaves(variables), jax.tree.leaves(loaded)):
    np.testing.assert_array_equal(a, b)
  # A changed .pth no longer matches its conversion; reading it needs torch.
  pth.write_bytes(b"another file")
  with pytest.raises(ValueError, match="needs PyTorch"), pytest.warns(
      cache.CacheWarning, match="converting it"):
    inception.load_weights(str(pth))


def test_pth_whose_name_hash_does_not_match_its_content_is_refused(tmp_path):
  pth = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
  pth.write_bytes(b"not the released file")
  with pytest.raises(ValueError, match="6726825d"):
    inception.load_weights(str(pth))


def test_npz_of_other_arrays_is_refused(tmp_path):
  path = str(tmp_path / "other.npz")
  np.savez(path, a=np.zeros(3), __metadata__=np.asarray(json.dumps({"format": 1})))
  with pytest.raises(ValueError, match="do not name"):
    inception.load_weights(path)


def test_seeded_weights_are_a_pure_function_of_the_seed():
  a, b, c = (inception_testing.seeded_variables(s) for s in (SEED, SEED, SEED + 1))
  kernel = lambda v: v["params"]["Mixed_7c"]["branch_pool"]["conv"]["kernel"]
  np.testing.assert_array_equal(kernel(a), kernel(b))
  assert not np.array_equal(kernel(a), kernel(c))
  # He-normal convolutions: variance 2 / fan_in (2048 inputs here), to 2%.
  assert np.var(kernel(a)) == pytest.approx(2 / 2048, rel=0.02)


def test_rebatch_regroups_chunks_into_full_batches_and_splits_at_shape_changes():
  chunks = [np.zeros((3, 4, 4, 3)), np.ones((4, 4, 4, 3)), np.full((2, 8, 8, 3), 2.0)]
  batches = list(inception._rebatch(chunks, 5))  # pylint: disable=protected-access
  assert [b.shape for b in batches] == [(5, 4, 4, 3), (2, 4, 4, 3), (2, 8, 8, 3)]
  np.testing.assert_array_equal(np.concatenate([b.reshape(len(b), -1)[:, 0]
                                                for b in batches]),
                                [0, 0, 0, 1, 1, 1, 1, 2, 2])


# ----------------------------------------------------------- the network (slow)


@pytest.fixture(scope="module")
def seeded():
  """Calibrated seeded variables and an Extractor on them (batches of 4)."""
  variables = inception_testing.seeded_calibrated_variables(SEED)
  return variables, inception.Extractor(variables, batch_size=4,
                                        metadata={"source_sha256": "seeded-0"})


@pytest.mark.slow
def test_pool3_and_logits_equal_pytorch_fid_golden_values(seeded):
  with open(GOLDEN) as f:
    golden = json.load(f)
  _, extractor = seeded
  images = golden_images()
  for image, entry in zip(images, golden["images"]):
    assert hashlib.sha256(image.tobytes()).hexdigest() == entry["pixels_sha256"], (
        "the golden images changed (calibration_pixels?); regenerate the golden file "
        "with benchmarks/references/fid_reference.py")
  # One call with three shapes: three compiled batches, two of them padded.
  pool3, logits = extractor.activations_of_batches(image[None] for image in images)
  message = ("Flax features differ from PyTorch's under the same weights; if the "
             "network changed on purpose, rerun benchmarks/references/fid_reference.py (own venv)")
  for i, entry in enumerate(golden["images"]):
    for got, values, indices, norm in (
        (pool3[i], entry["pool3_values"], golden["pool3_indices"], entry["pool3_norm"]),
        (logits[i], entry["logits_values"], golden["logit_indices"], entry["logits_norm"])):
      # Tolerance: float32 rounding of a ~100-layer network, as the script measured it
      # (relative to the vector's largest value); a real bug moves features by > 10%.
      tol = golden["tolerance_rel_to_max"] * np.abs(values).max()
      np.testing.assert_allclose(got[indices], values, atol=tol, rtol=0, err_msg=message)
      assert np.linalg.norm(got) == pytest.approx(norm, rel=golden["tolerance_rel_to_max"])
  assert float(np.sum(pool3[0], dtype=np.float64)) == pytest.approx(
      golden["images"][0]["pool3_sum"], rel=golden["tolerance_rel_to_max"])


@pytest.mark.slow
def test_features_do_not_depend_on_batch_padding_or_grouping(seeded):
  _, extractor = seeded
  images = inception_testing.calibration_pixels(3, 6, 16)
  together, _ = extractor.activations(images)  # batches of 4 and 2 (+2 padding)
  alone = np.concatenate([extractor.activations(images[i:i + 1])[0] for i in range(6)])
  np.testing.assert_allclose(together, alone, rtol=0, atol=1e-5 * np.abs(alone).max())
  # Generated [-1, 1] floats are their 8-bit rounding.
  floats = images.astype(np.float32) / 127.5 - 1
  np.testing.assert_array_equal(extractor.features(floats), together)


_DEVICE_SCRIPT = """
import json, sys
import jax, numpy as np
import inception_testing
from jaxgan.eval import inception, metrics
variables, _ = inception.load_npz(sys.argv[1])
extractor = inception.Extractor(variables, batch_size=8)
pool3, _ = extractor.activations(inception_testing.calibration_pixels(4, 12, 16))
mu, sigma = metrics.feature_statistics(pool3)
np.savez(sys.argv[2], mu=mu, sigma=sigma)
print(json.dumps({"devices": jax.device_count(), "batch": extractor.batch_size}))
"""


@pytest.mark.slow
def test_statistics_are_the_same_on_one_and_four_forced_devices(seeded, tmp_path):
  variables, _ = seeded
  weights = str(tmp_path / "seeded.npz")
  inception.save_npz(weights, variables, {"source_sha256": "seeded-0"})
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  results = {}
  for devices in (1, 4):
    out = str(tmp_path / f"stats_{devices}.npz")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.path.join(root, "tests")]),
               JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    proc = subprocess.run([sys.executable, "-c", _DEVICE_SCRIPT, weights, out], env=env,
                          capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"devices": devices,
                                                                "batch": 8}
    with np.load(out) as data:
      results[devices] = data["mu"], data["sigma"]
  (mu1, s1), (mu4, s4) = results[1], results[4]
  # 12 images in batches of 8 (2 per device with 4): one padded batch on either.
  np.testing.assert_allclose(mu4, mu1, rtol=0, atol=1e-5 * np.abs(mu1).max())
  np.testing.assert_allclose(s4, s1, rtol=0, atol=1e-5 * np.abs(s1).max())


# ------------------------------------------------------ metrics and references


def test_inception_metrics_are_the_single_metrics_under_their_keys():
  rng = np.random.default_rng(5)
  real = rng.normal(size=(300, 16))
  fake = rng.normal(size=(200, 16)) + 0.3
  logits = rng.normal(size=(200, 10)) * 3
  mu, sigma = metrics.feature_statistics(real)
  reference = inception.Reference(mu=mu, sigma=sigma, features=real[:250],
                                  num_images=300, metadata={})
  out = inception.inception_metrics(fake, logits, reference, is_splits=10, kid_subsets=4,
                                    kid_subset_size=100, prdc_k=5, rng=3)
  assert tuple(out) == inception.metric_keys() == (
      "fid_inception_v3", "is_inception_v3", "is_std_inception_v3", "kid_inception_v3",
      "kid_stderr_inception_v3", "precision_inception_v3", "recall_inception_v3",
      "density_inception_v3", "coverage_inception_v3")
  assert out["fid_inception_v3"] == metrics.frechet_distance_from_stats(
      *metrics.feature_statistics(fake), mu, sigma)
  assert (out["is_inception_v3"], out["is_std_inception_v3"]) == metrics.inception_score(
      logits, num_splits=10)
  kid = metrics.kernel_inception_distance(fake, real[:250], num_subsets=4, subset_size=100,
                                         rng=3)
  assert (out["kid_inception_v3"], out["kid_stderr_inception_v3"]) == kid
  prdc = metrics.precision_recall_density_coverage(real[:250], fake, k=5)
  assert [out[f"{m}_inception_v3"] for m in prdc] == list(prdc.values())


@pytest.mark.slow
def test_reference_is_cached_by_key_and_weights_and_recomputed_when_damaged(seeded,
                                                                            tmp_path):
  _, extractor = seeded
  images = inception_testing.calibration_pixels(5, 6, 8)
  calls = []

  def batches():
    calls.append(1)
    return iter([images[:4], images[4:]])

  key = {"dataset": "digits", "split": "train", "image_size": 8}
  first = inception.load_or_compute_reference(str(tmp_path), key, extractor, batches,
                                              num_features=4, seed=0)
  pool3, _ = extractor.activations(images)
  np.testing.assert_array_equal(first.mu, pool3.astype(np.float64).mean(axis=0))
  assert first.num_images == 6 and first.features.shape == (4, inception.NUM_FEATURES)
  again = inception.load_or_compute_reference(str(tmp_path), key, extractor, batches,
                                               num_features=4, seed=0)
  assert len(calls) == 1
  np.testing.assert_array_equal(again.sigma, first.sigma)
  np.testing.assert_array_equal(again.features, first.features)
  # Other images (key) -> another file, computed anew.
  inception.load_or_compute_reference(str(tmp_path), dict(key, split="test"), extractor,
                                      batches, num_features=4, seed=0)
  assert len(calls) == 2
  (path,) = [p for p in tmp_path.iterdir() if "_train_" in p.name]
  path.write_bytes(b"damaged")
  with pytest.warns(UserWarning, match="unusable"):
    inception.load_or_compute_reference(str(tmp_path), key, extractor, batches,
                                        num_features=4, seed=0)
  assert len(calls) == 3


def test_real_image_batches_are_the_training_split_as_8_bit_pixels(tmp_path):
  import ml_collections  # pylint: disable=g-import-not-at-top
  from jaxgan.eval import classifier  # pylint: disable=g-import-not-at-top
  cfg = ml_collections.ConfigDict(dict(name="digits", data_dir=str(tmp_path), path="",
                                       image_size=8, channels=0))
  chunks = list(inception.real_image_batches(cfg, "train", chunk=500))
  assert [len(c) for c in chunks] == [500, 500, 497]
  pixels = np.concatenate(chunks)
  images, _ = classifier.real_split(cfg, "train")
  assert pixels.dtype == np.uint8 and pixels.shape == (1497, 8, 8, 1)
  np.testing.assert_array_equal(pixels, inception.to_uint8(images))


# ------------------------------------------------------------- command line


def _write_pngs(folder, images, ext="png"):
  folder.mkdir(parents=True, exist_ok=True)
  for i, image in enumerate(images):
    Image.fromarray(image).save(folder / f"{i:03d}.{ext}")


def test_image_files_are_found_recursively_in_any_case_and_sorted(tmp_path):
  _write_pngs(tmp_path / "b", [np.zeros((4, 4, 3), np.uint8)])
  _write_pngs(tmp_path / "a" / "deep", [np.zeros((4, 4, 3), np.uint8)], ext="PNG")
  (tmp_path / "notes.txt").write_text("not an image")
  names = [os.path.relpath(p, tmp_path) for p in fid.image_files(str(tmp_path))]
  assert names == [os.path.join("a", "deep", "000.PNG"), os.path.join("b", "000.png")]
  with pytest.raises(ValueError, match="no image files"):
    fid.image_files(str(tmp_path / "a" / "deep" / "empty"))


def test_command_line_without_weights_says_which_file_is_needed(capsys):
  with pytest.raises(SystemExit) as info:
    fid.main(["a", "b"])
  assert info.value.code == 2
  assert inception.WEIGHTS_FILE in capsys.readouterr().err


def _eigen_frechet(mu1, s1, mu2, s2):
  """|mu1 - mu2|^2 + Tr(s1 + s2) - 2 Tr((s1 s2)^(1/2)) by symmetric eigendecompositions.

  s1 s2 is similar to s1^(1/2) s2 s1^(1/2) (symmetric PSD): the trace of the root is
  the sum of the square roots of its eigenvalues. Independent of scipy's sqrtm, and
  seconds instead of half a minute for 2048 x 2048 on a busy 2-core CPU.
  """
  w, v = np.linalg.eigh(s1)
  root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
  lam = np.linalg.eigvalsh(root1 @ s2 @ root1)
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
               - 2 * np.sum(np.sqrt(np.clip(lam, 0, None))))


@pytest.mark.slow
def test_command_line_fid_save_stats_and_inception_score(seeded, tmp_path, capsys):
  variables, extractor = seeded
  weights = str(tmp_path / "seeded.npz")
  inception.save_npz(weights, variables, {"source_sha256": "seeded-0"})
  grey = inception_testing.calibration_pixels(6, 4, 16)[:2, ..., 0]  # two L-mode PNGs
  colour = inception_testing.calibration_pixels(7, 8, 16)[4:]
  _write_pngs(tmp_path / "a", list(grey) + list(colour[:2]))
  _write_pngs(tmp_path / "b" / "sub", list(colour))
  args = ["--weights", weights, "--batch-size", "4"]
  # PIL's convert('RGB') makes the grey PNGs three equal channels.
  feats_a = extractor.features(np.concatenate([np.repeat(grey[..., None], 3, -1),
                                               colour[:2]]))
  feats_b = extractor.features(colour)
  stats_a = metrics.feature_statistics(feats_a)

  # One FID (its 2048 x 2048 sqrtm dominates the time on a CPU).
  assert fid.main([str(tmp_path / "a"), str(tmp_path / "b")] + args) == 0
  line = capsys.readouterr().out.strip()
  assert line.startswith("FID:  ")
  expected = _eigen_frechet(*stats_a, *metrics.feature_statistics(feats_b))
  assert float(line.split()[1]) == pytest.approx(expected, rel=1e-4)

  # --save-stats writes pytorch-fid's file; a PATH ending in .npz reads it back.
  stats = str(tmp_path / "a.npz")
  assert fid.main(["--save-stats", str(tmp_path / "a"), stats] + args) == 0
  for saved, direct in zip(fid.statistics(stats, extractor), stats_a):
    np.testing.assert_allclose(saved, direct, rtol=0, atol=1e-6 * np.abs(direct).max())
  assert fid.main(["--save-stats", str(tmp_path / "a"), stats] + args) == 2  # exists

  capsys.readouterr()
  assert fid.main(["--inception-score", str(tmp_path / "b"), "--splits", "2"] + args) == 0
  out = capsys.readouterr().out
  mean, std = metrics.inception_score(extractor.score_logits(feats_b), num_splits=2)
  assert out.startswith("IS:  ")
  assert float(out.split()[1]) == pytest.approx(mean, rel=1e-6)
  assert float(out.split()[3]) == pytest.approx(std, rel=1e-4, abs=1e-9)


def test_score_logits_are_pool3_times_the_logit_weights_without_bias():
  variables = inception_testing.seeded_variables(SEED)
  extractor = inception.Extractor(variables, batch_size=1)
  pool3 = np.random.default_rng(8).uniform(size=(3, inception.NUM_FEATURES))
  kernel = np.asarray(variables["params"]["fc"]["kernel"], np.float64)
  np.testing.assert_allclose(extractor.score_logits(pool3), pool3 @ kernel, rtol=1e-12)
  assert np.any(variables["params"]["fc"]["bias"] != 0)  # so leaving it out matters



# ----------------------------------------------------- evaluation during training


@pytest.mark.slow
def test_evaluator_reports_inception_metrics_against_the_cached_training_split(
    seeded, tmp_path):
  from configs import wgan_gp  # pylint: disable=g-import-not-at-top
  from jaxgan import eval as evaluation  # pylint: disable=g-import-not-at-top
  from jaxgan import sample as sample_lib  # pylint: disable=g-import-not-at-top
  from jaxgan import factory, rng, train, validation  # pylint: disable=g-import-not-at-top
  variables, extractor = seeded
  weights = str(tmp_path / "seeded.npz")
  inception.save_npz(weights, variables, {"source": "seeded", "source_sha256": "seeded-0"})
  real = inception_testing.calibration_pixels(9, 10, 8)
  _write_pngs(tmp_path / "images", list(real))
  config = wgan_gp.get_config("dataset=folder,arch=mlp")
  config.dataset.path = str(tmp_path / "images")
  config.dataset.image_size = 8
  config.model.hidden = (16,)
  config.eval.update(num_samples=12, inception_weights=weights, inception_num_samples=12,
                     inception_batch_size=4, inception_real_features=8, is_splits=2,
                     prdc_k=2, kid_subsets=2, kid_subset_size=6,
                     classifier_dir=str(tmp_path / "cache"))
  shape = validation.validate(config)
  spec = factory.make_step_spec(config, shape)
  state = train.init_state(spec, rng.run_key(0), shape)

  result = evaluation.Evaluator(config, spec, str(tmp_path / "run"))(state, 1)
  values = result["generators"]["raw"]
  assert result["inception"]["reference"] == "folder train split, all 10 images"
  assert result["inception"]["num_samples"] == 12
  # The same numbers from the parts: the run's first 12 evaluation samples, the folder.
  samples = sample_lib.generator_output(
      spec, state, evaluation.eval_latents(0, 12, config.model.z_dim), use_ema=False)
  pool3, _ = extractor.activations(samples)
  real_pool3, _ = extractor.activations(real)
  mu, sigma = metrics.feature_statistics(real_pool3)
  assert values["fid_inception_v3"] == pytest.approx(
      _eigen_frechet(*metrics.feature_statistics(pool3), mu, sigma), rel=1e-4)
  assert values["is_inception_v3"] == pytest.approx(
      metrics.inception_score(extractor.score_logits(pool3), num_splits=2)[0], rel=1e-6)
  kept = real_pool3[np.sort(np.random.default_rng(evaluation.CLASSIFIER_SEED).choice(
      10, 8, replace=False))]
  expected = metrics.precision_recall_density_coverage(kept, pool3, k=2)
  assert [values[f"{k}_inception_v3"] for k in expected] == pytest.approx(
      list(expected.values()))
  assert "eval/raw/fid_inception_v3" in evaluation.flat_scalars(result)
  assert "FID" in evaluation.summary_line(result)
  # The real statistics were cached beside the classifier and are reused.
  (cached,) = (tmp_path / "cache").glob("inception_reference_folder_train_8px_*.npz")
  np.testing.assert_allclose(cache.load(str(cached))[0]["mu"], mu, rtol=1e-6)


def test_evaluator_with_a_missing_weights_file_stops_with_the_one_line_message(tmp_path):
  from configs import wgan_gp  # pylint: disable=g-import-not-at-top
  from jaxgan import errors, validation  # pylint: disable=g-import-not-at-top
  config = wgan_gp.get_config("dataset=digits")
  config.eval.inception_weights = str(tmp_path / inception.WEIGHTS_FILE)
  with pytest.raises(errors.ConfigError, match="never downloads") as info:
    validation.validate(config)
  assert "\n" not in str(info.value) and "eval.inception_weights" in str(info.value)
