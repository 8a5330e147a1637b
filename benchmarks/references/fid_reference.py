"""jaxgan's FID Inception-v3 and metrics against pytorch-fid, torch-fidelity and prdc.

    # its own venv: torch / torchvision / pytorch-fid conflict with [bench]'s torch
    python3 -m venv /work/venv-fidref && . /work/venv-fidref/bin/activate
    pip install -e '.[fid_reference]'
    tar -xzf ../shared/data/cifar10-train-jpeg.tar.gz -C /tmp   # real images
    python benchmarks/references/fid_reference.py --cifar /tmp/cifar10-jpeg/train
    python benchmarks/references/fid_reference.py --speed --cifar /tmp/cifar10-jpeg/train

No weights are downloaded. Both networks get the same deterministic random weights:
`inception.seeded_variables(SEED)` (NumPy), BatchNorm statistics calibrated by
`inception.calibrate_batch_norm` (JAX) on `inception.calibration_pixels(SEED, 16)` (half
scikit-learn's real digit scans). They are converted to a PyTorch state dict and written
where pytorch-fid's loader looks ($TORCH_HOME/hub/checkpoints/<its file name>), so
pytorch-fid's own InceptionV3, fid_inception_v3() and command line load them unchanged.

Checks, each with its measured deviation and a stated float32 tolerance:
 1. pool3 features and logits of varied images, including ones that need resizing
    (28x28 grey, 32x32, 64x64, 48x80, 299x299 and 400x400 from CIFAR-10 and digits):
    Flax vs pytorch-fid's InceptionV3 (pool3) and fid_inception_v3().fc (logits).
 2. the resize alone: `inception.resize_to_input` vs F.interpolate(bilinear,
    align_corners=False).
 3. the Frechet distance: metrics.frechet_distance_from_stats vs
    pytorch_fid.fid_score.calculate_frechet_distance on the same statistics (full-rank
    and rank-deficient covariances), and metrics.feature_statistics vs its statistics.
 4. IS vs torch-fidelity's isc_features_to_metric, KID vs its kid_features_to_metric
    (whole sets as subsets, so both are deterministic), PRDC vs prdc.compute_prdc.
 5. `python -m jaxgan.fid A B --weights W` vs `python -m pytorch_fid A B` on two
    folders of PNG images, and --save-stats files read by the other tool.
It also writes the golden values tests/test_inception.py pins: PyTorch's features of
three fixed NumPy images under the same weights. Results: benchmarks/results/
fid_reference.{json,md}.

--speed: throughput of the two networks on the same CIFAR-10 images (32x32, resized
to 299x299 by each network's own input handling); torch is limited to --threads CPU
threads. Each side runs at batch 50 (pytorch-fid's default) and at a small batch
(--small-batch), rounds alternating so a change in machine load hits all four;
images/s is the median over rounds, after one warm-up call (jaxgan's first call
includes its compilation, reported separately). Then one whole evaluation as a
training run does it, timed: jaxgan's features of --evaluation-samples CIFAR-10
images (stand-ins for generated ones) at the faster batch size, and every metric
against a reference of that many real features (FID with its 2048x2048 matrix square
root, IS, KID with 100 subsets of 1,000, precision / recall / density / coverage with
k = 5). Results: benchmarks/results/fid_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks import run_meta  # noqa: E402
from tests import inception_testing as inception  # noqa: E402
from jaxgan.eval import metrics  # noqa: E402

SEED = 0
# Feature tolerance in float32, per image: max |flax - torch| <= FEATURE_TOL * max |torch|.
# Two float32 implementations of a ~100-layer network sum in different orders; with
# these random weights each deviates from a float64 evaluation by about as much as
# from the other (results file), and a real bug (a pool counting its padding, an
# input off by 1/255) moves the features by more than 10% of their maximum.
FEATURE_TOL = 5e-4
FEATURE_TOL_FLOAT64 = 1e-10  # both networks in float64 on the same resized input
RESIZE_ATOL = 4e-6  # network input in [-1, 1]: a few float32 ulps at 1.0
FID_RTOL = 1e-6  # same statistics, same maths: only sqrtm's rounding may differ
CLI_FID_RTOL = 1e-5  # folders: features differ by float32 rounding, passed through sqrtm
# Coordinates of pool3 / logits pinned by the golden file.
GOLDEN_POOL3_INDICES = tuple(range(0, inception.NUM_FEATURES, 128))
GOLDEN_LOGIT_INDICES = tuple(range(0, inception.NUM_LOGITS, 63))


def golden_images() -> list[np.ndarray]:
  """Three fixed uint8 images from NumPy: 28x28 grey (1 channel), 32x32 and 64x64 RGB.

  tests/test_inception.py builds the same list; the golden file stores their SHA-256.
  """
  return [inception.calibration_pixels(1, 2, 28)[0, ..., :1],
          inception.calibration_pixels(1, 2, 32)[1],
          inception.calibration_pixels(2, 2, 64)[1]]


def sha256(array: np.ndarray) -> str:
  return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def seeded_weights(torch_home: str):
  """inception.seeded_calibrated_variables(SEED) and its PyTorch state dict, saved where
  pytorch-fid's loader looks under `torch_home` (made TORCH_HOME); (variables, state
  dict, that file)."""
  from pytorch_fid import inception as pf  # pylint: disable=g-import-not-at-top
  hub_file = os.path.join(torch_home, "hub", "checkpoints", os.path.basename(pf.FID_WEIGHTS_URL))
  os.makedirs(os.path.dirname(hub_file))
  os.environ["TORCH_HOME"] = torch_home
  print("seeded weights + BatchNorm calibration (JAX) ...", flush=True)
  variables = inception.seeded_calibrated_variables(SEED)
  state = {k: torch.tensor(v)  # a copy: the arrays are read-only views
           for k, v in inception.state_dict_from_variables(variables).items()}
  torch.save(state, hub_file)
  return variables, state, hub_file


def torch_models(state_dict_path: str):
  """pytorch-fid's InceptionV3 (pool3, with its resize and scaling) and its logit layer."""
  from pytorch_fid import inception as pf  # pylint: disable=g-import-not-at-top
  model = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
  fc = pf.fid_inception_v3().fc.eval()
  # Both loaded the file from the hub cache; make sure it is the seeded one.
  loaded = torch.load(state_dict_path, weights_only=True)
  assert torch.equal(fc.weight, loaded["fc.weight"])
  assert torch.equal(model.blocks[0][0].conv.weight, loaded["Conv2d_1a_3x3.conv.weight"])
  return model, fc


def torch_activations(model, fc, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  """pytorch-fid's path per image: uint8 -> RGB -> ToTensor ([0, 1]) -> model."""
  pool3, logits = [], []
  with torch.no_grad():
    for image in images:
      rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
      x = torch.tensor(rgb).permute(2, 0, 1)[None].float().div(255)
      p = model(x)[0][:, :, 0, 0]
      pool3.append(p.numpy()[0])
      logits.append(fc(p).numpy()[0])
  return np.stack(pool3), np.stack(logits)


def flax_activations(extractor, images):
  pool3, logits = [], []
  for image in images:
    p, l = extractor.activations(image[None])
    pool3.append(p[0])
    logits.append(l[0])
  return np.stack(pool3), np.stack(logits)


def deviation(ours: np.ndarray, ref: np.ndarray, tol: float) -> dict:
  """Per image (row): max |ours - ref| / max |ref|; the worst row against `tol`."""
  diff = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
  rel = diff.max(axis=1) / np.abs(ref.astype(np.float64)).max(axis=1)
  return {"max_abs": float(diff.max()), "max_rel_to_max": float(rel.max()),
          "tolerance_rel_to_max": tol, "within_tolerance": bool(rel.max() <= tol)}


def cifar_images(root: str, count: int, offset: int = 0) -> list[np.ndarray]:
  """`count` CIFAR-10 JPEGs (32x32 RGB) spread over the classes, as uint8."""
  classes = sorted(os.listdir(root))
  files = []
  for i in range(offset, offset + count):
    cls = classes[i % len(classes)]
    names = sorted(os.listdir(os.path.join(root, cls)))
    files.append(os.path.join(root, cls, names[i // len(classes)]))
  return [np.asarray(Image.open(f).convert("RGB"), np.uint8) for f in files]


def varied_images(cifar_root: str) -> tuple[list[np.ndarray], list[str]]:
  """Images of the sizes pytorch-fid meets, with labels."""
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  cifar = cifar_images(cifar_root, 6)
  digits = load_digits().images[:2] / 16.0
  images, labels = [], []
  for i, d in enumerate(digits):
    grey = Image.fromarray(np.uint8(np.round(d * 255))).resize((28, 28), Image.BILINEAR)
    images.append(np.asarray(grey, np.uint8)[..., None])
    labels.append(f"digit {i} 28x28 grey (1 channel)")
  for i, c in enumerate(cifar[:2]):
    images.append(c)
    labels.append(f"cifar {i} 32x32")
  sizes = [(64, 64), (80, 48), (299, 299), (400, 400)]  # PIL sizes are (width, height)
  for (w, h), c in zip(sizes, cifar[2:]):
    images.append(np.asarray(Image.fromarray(c).resize((w, h), Image.BICUBIC), np.uint8))
    labels.append(f"cifar upscaled to {h}x{w}")
  return images, labels


def write_folder(path: str, images: list[np.ndarray]) -> None:
  os.makedirs(path, exist_ok=True)
  for i, image in enumerate(images):
    Image.fromarray(image).save(os.path.join(path, f"{i:05d}.png"))


def float64_check(weights_npz: str, cifar_root: str) -> dict:
  """Both networks in float64 (this process must run with JAX_ENABLE_X64=1).

  The same float32-valued weights cast to float64, the same input (PyTorch's float64
  resize of each image); pool3 and logits must then agree to float64 rounding, which
  separates a structural difference from float32 conditioning.
  """
  from pytorch_fid import inception as pf  # pylint: disable=g-import-not-at-top
  if not jax.config.jax_enable_x64:
    raise RuntimeError("run with JAX_ENABLE_X64=1")
  variables, _ = inception.load_npz(weights_npz)
  variables = jax.tree.map(lambda v: np.asarray(v, np.float64), variables)
  model = pf.InceptionV3([3], resize_input=False, normalize_input=False).double().eval()
  fc = pf.fid_inception_v3().fc.double().eval()
  images, _ = varied_images(cifar_root)
  apply = jax.jit(inception.FIDInceptionV3().apply)
  ours_p, ours_l, ref_p, ref_l = [], [], [], []
  with torch.no_grad():
    for image in images:
      rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
      x = torch.tensor(rgb).permute(2, 0, 1)[None].double().div(255)
      x = 2 * F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) - 1
      p = model(x)[0][:, :, 0, 0]
      ref_p.append(p.numpy()[0])
      ref_l.append(fc(p).numpy()[0])
      pool3, logits = apply(variables, x.permute(0, 2, 3, 1).numpy())
      assert pool3.dtype == np.float64
      ours_p.append(np.asarray(pool3)[0])
      ours_l.append(np.asarray(logits)[0])
  return {"pool3": deviation(np.stack(ours_p), np.stack(ref_p), FEATURE_TOL_FLOAT64),
          "logits": deviation(np.stack(ours_l), np.stack(ref_l), FEATURE_TOL_FLOAT64),
          "torch_float64_pool3": np.stack(ref_p).tolist()}


def check_resize(images) -> dict:
  worst = 0.0
  for image in images:
    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
    x = torch.tensor(rgb).permute(2, 0, 1)[None].float().div(255)
    ref = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    ref = (2 * ref - 1)[0].permute(1, 2, 0).numpy()
    ours = np.asarray(jax.jit(inception.resize_to_input)(image[None] / np.float32(255.0)))[0]
    worst = max(worst, float(np.abs(ours - ref).max()))
  return {"max_abs": worst, "atol": RESIZE_ATOL, "within_tolerance": worst <= RESIZE_ATOL}


def check_frechet(pool3_a, pool3_b) -> dict:
  from pytorch_fid import fid_score  # pylint: disable=g-import-not-at-top
  out = {}
  rng = np.random.default_rng(SEED)
  mix = rng.standard_normal((64, 64)) / 8.0
  cases = {
      # Full rank: 5,000 correlated Gaussian features of dimension 64.
      "full_rank_64d": (rng.standard_normal((5000, 64)) @ mix,
                        rng.standard_normal((4000, 64)) @ mix + 0.1),
      # Rank deficient: pool3 of a few hundred images in 2048 dimensions.
      "pool3_rank_deficient": (pool3_a, pool3_b),
  }
  for name, (a, b) in cases.items():
    mu1, s1 = np.mean(a.astype(np.float64), axis=0), np.cov(a.astype(np.float64), rowvar=False)
    mu2, s2 = np.mean(b.astype(np.float64), axis=0), np.cov(b.astype(np.float64), rowvar=False)
    ours_mu, ours_s = metrics.feature_statistics(a)
    ref = float(fid_score.calculate_frechet_distance(mu1, s1, mu2, s2))
    ours = metrics.frechet_distance_from_stats(mu1, s1, mu2, s2)
    rel = abs(ours - ref) / abs(ref)
    out[name] = {"pytorch_fid": ref, "jaxgan": ours, "rel_diff": rel,
                 "statistics_equal": bool(np.array_equal(ours_mu, mu1)
                                          and np.array_equal(ours_s, s1)),
                 "rtol": FID_RTOL, "within_tolerance": rel <= FID_RTOL}
  return out


def check_other_metrics(pool3_a, pool3_b, logits) -> dict:
  import prdc  # pylint: disable=g-import-not-at-top
  from torch_fidelity import metric_isc, metric_kid  # pylint: disable=g-import-not-at-top
  out = {}
  for shuffle in (False, True):
    ref = metric_isc.isc_features_to_metric(torch.from_numpy(logits), splits=10,
                                            shuffle=shuffle, rng_seed=2020)
    mean, std = metrics.inception_score(logits, num_splits=10,
                                        shuffle_seed=2020 if shuffle else None)
    ref_mean, ref_std = ref["inception_score_mean"], ref["inception_score_std"]
    out[f"inception_score_shuffle_{shuffle}"] = {
        "torch_fidelity": [ref_mean, ref_std], "jaxgan": [mean, std],
        "max_rel_diff": max(abs(mean - ref_mean) / ref_mean,
                            abs(std - ref_std) / max(ref_std, 1e-300))}
  n = min(len(pool3_a), len(pool3_b))
  a64, b64 = pool3_a[:n].astype(np.float64), pool3_b[:n].astype(np.float64)
  ref = metric_kid.kid_features_to_metric(
      torch.from_numpy(a64), torch.from_numpy(b64), kid_subsets=3, kid_subset_size=n,
      kid_degree=3, kid_gamma=None, kid_coef0=1, kid_kernel="poly",
      kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1,
      rng_seed=2020, verbose=False)
  mean, _ = metrics.kernel_inception_distance(a64, b64, num_subsets=3, subset_size=n, rng=0)
  out["kid_whole_sets"] = {"torch_fidelity": ref["kernel_inception_distance_mean"],
                           "jaxgan": mean,
                           "rel_diff": abs(mean - ref["kernel_inception_distance_mean"])
                                       / abs(ref["kernel_inception_distance_mean"])}
  ref = prdc.compute_prdc(a64, b64, nearest_k=5)
  ours = metrics.precision_recall_density_coverage(a64, b64, k=5)
  out["prdc_k5"] = {"prdc": {k: float(v) for k, v in ref.items()}, "jaxgan": ours,
                    "equal": all(float(ref[k]) == ours[k] for k in ours)}
  return out


def run_cli(cmd: list[str], env: dict) -> tuple[str, float]:
  start = time.perf_counter()
  proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
  seconds = time.perf_counter() - start
  if proc.returncode:
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
  return proc.stdout, seconds


def fid_line(stdout: str) -> float:
  match = re.search(r"^FID:\s+(\S+)", stdout, re.M)
  if not match:
    raise RuntimeError(f"no 'FID:' line in {stdout!r}")
  return float(match.group(1))


def check_cli(cifar_root: str, work: str, weights_pth: str, env: dict, count: int) -> dict:
  a, b = os.path.join(work, "folder_a"), os.path.join(work, "folder_b")
  write_folder(a, cifar_images(cifar_root, count))
  # Folder B: other CIFAR images, blurred, so the two distributions differ.
  blurred = [np.asarray(Image.fromarray(x).resize((16, 16), Image.BILINEAR)
                        .resize((32, 32), Image.BILINEAR), np.uint8)
             for x in cifar_images(cifar_root, count, offset=count)]
  write_folder(b, blurred)
  torch_out, torch_s = run_cli([sys.executable, "-m", "pytorch_fid", a, b, "--device",
                                "cpu", "--batch-size", "50", "--num-workers", "0"], env)
  ours_out, ours_s = run_cli([sys.executable, "-m", "jaxgan.fid", a, b, "--weights",
                              weights_pth, "--batch-size", "50"], env)
  ref, ours = fid_line(torch_out), fid_line(ours_out)
  # Statistics files written by one tool and read by the other.
  stats_torch, stats_ours = os.path.join(work, "a_torch.npz"), os.path.join(work, "a_jax.npz")
  run_cli([sys.executable, "-m", "pytorch_fid", "--save-stats", a, stats_torch, "--device",
           "cpu", "--num-workers", "0"], env)
  run_cli([sys.executable, "-m", "jaxgan.fid", "--save-stats", a, stats_ours, "--weights",
           weights_pth], env)
  cross, _ = run_cli([sys.executable, "-m", "jaxgan.fid", stats_torch, b, "--weights",
                      weights_pth], env)
  rel = abs(ours - ref) / ref
  return {"images_per_folder": count, "pytorch_fid_cli": ref, "jaxgan_cli": ours,
          "rel_diff": rel, "rtol": CLI_FID_RTOL, "within_tolerance": rel <= CLI_FID_RTOL,
          "jaxgan_reading_pytorch_fid_stats": fid_line(cross),
          "pytorch_fid_stdout": torch_out.strip().splitlines()[-1],
          "jaxgan_stdout": ours_out.strip().splitlines()[-1],
          "seconds_pytorch_fid_cli": round(torch_s, 1), "seconds_jaxgan_cli": round(ours_s, 1)}


def golden(extractor, model, fc) -> dict:
  images = golden_images()
  pool3, logits = torch_activations(model, fc, images)
  ours_pool3, ours_logits = flax_activations(extractor, images)
  entries = []
  for i, image in enumerate(images):
    entries.append({
        "shape": list(image.shape), "pixels_sha256": sha256(image),
        "pool3_norm": float(np.linalg.norm(pool3[i].astype(np.float64))),
        "pool3_sum": float(pool3[i].astype(np.float64).sum()),
        "pool3_values": [float(pool3[i][j]) for j in GOLDEN_POOL3_INDICES],
        "logits_norm": float(np.linalg.norm(logits[i].astype(np.float64))),
        "logits_values": [float(logits[i][j]) for j in GOLDEN_LOGIT_INDICES],
    })
  return {
      "about": "PyTorch (pytorch-fid) features of tests' golden images under "
               f"inception.seeded_calibrated_variables({SEED}); written by "
               "benchmarks/references/fid_reference.py",
      "seed": SEED, "torch": torch.__version__,
      "pool3_indices": list(GOLDEN_POOL3_INDICES),
      "logit_indices": list(GOLDEN_LOGIT_INDICES),
      "tolerance_rel_to_max": FEATURE_TOL, "images": entries,
      "flax_deviation_here": {"pool3": deviation(ours_pool3, pool3, FEATURE_TOL),
                              "logits": deviation(ours_logits, logits, FEATURE_TOL)},
  }


def _row(check: str, d: dict) -> str:
  return (f"| {check} | {d['max_abs']:.3g} abs; {d['max_rel_to_max']:.3g} of max | "
          f"{d['tolerance_rel_to_max']:g} of max | {d['within_tolerance']} |")


def markdown(result: dict) -> str:
  f, f64, c, o = result["features"], result["float64"], result["cli"], result["other_metrics"]
  n = len(f["labels"])
  lines = [
      "# jaxgan FID Inception-v3 vs pytorch-fid (same seeded weights)", "",
      f"Written by `benchmarks/references/fid_reference.py` at commit {result['commit']} on "
      f"{result['cpu']}; torch {result['torch']}, pytorch-fid {result['pytorch_fid']}, "
      f"torch-fidelity {result['torch_fidelity']}, prdc {result['prdc']}, jax "
      f"{result['jax']}. Load average before / after: {result['load_before']} / "
      f"{result['load_after']}.", "",
      f"Weights: `inception.seeded_calibrated_variables({SEED})` converted to PyTorch "
      "and loaded by pytorch-fid's own loader (from the hub cache; nothing downloaded). "
      "Features are compared per image as max |jaxgan - reference| over the vector, "
      "relative to the largest |value| of the reference vector.", "",
      "| check | measured (worst image) | tolerance | ok |", "|---|---|---|---|",
      _row(f"pool3, {n} varied images, float32", f["pool3"]),
      _row("logits, same images, float32", f["logits"]),
      _row("pool3, both networks in float64 on the same input", f64["pool3"]),
      _row("logits, both in float64", f64["logits"]),
      _row("(context) jaxgan float32 vs PyTorch float64, pool3",
           f64["flax_float32_vs_torch_float64_pool3"]),
      _row("(context) PyTorch float32 vs PyTorch float64, pool3",
           f64["torch_float32_vs_torch_float64_pool3"]),
      f"| resize to 299 vs F.interpolate (pixels in [-1, 1]) | "
      f"{result['resize']['max_abs']:.3g} | {RESIZE_ATOL:g} | "
      f"{result['resize']['within_tolerance']} |",
  ]
  for name, fr in result["frechet"].items():
    lines.append(f"| Frechet distance ({name}): jaxgan {fr['jaxgan']:.12g} vs "
                 f"calculate_frechet_distance {fr['pytorch_fid']:.12g}; statistics "
                 f"identical: {fr['statistics_equal']} | rel {fr['rel_diff']:.2g} | "
                 f"{FID_RTOL:g} | {fr['within_tolerance']} |")
  for shuffle in (False, True):
    key = f"inception_score_shuffle_{shuffle}"
    lines.append(f"| IS (10 splits, shuffle={shuffle}) vs torch-fidelity: "
                 f"{o[key]['jaxgan'][0]:.10g} +- {o[key]['jaxgan'][1]:.4g} | rel "
                 f"{o[key]['max_rel_diff']:.2g} | 1e-12 | {o[key]['max_rel_diff'] <= 1e-12} |")
  kid = o["kid_whole_sets"]
  lines.append(f"| KID (subsets = whole sets) vs torch-fidelity: {kid['jaxgan']:.10g} | "
               f"rel {kid['rel_diff']:.2g} | 1e-9 | {kid['rel_diff'] <= 1e-9} |")
  lines.append(f"| precision / recall / density / coverage (k=5) vs prdc: "
               f"{', '.join(f'{v:.4g}' for v in o['prdc_k5']['jaxgan'].values())} | "
               f"identical: {o['prdc_k5']['equal']} | exact | {o['prdc_k5']['equal']} |")
  lines.append(f"| command lines, {c['images_per_folder']} PNGs per folder: jaxgan "
               f"{c['jaxgan_cli']:.10g} vs pytorch-fid {c['pytorch_fid_cli']:.10g} | rel "
               f"{c['rel_diff']:.2g} | {CLI_FID_RTOL:g} | {c['within_tolerance']} |")
  lines += ["", "Worst float32 pool3 deviation per image (abs):", ""]
  lines += [f"- {label}: {d:.3g}" for label, d in zip(f["labels"], f["per_image_pool3_max_abs"])]
  lines += ["", f"Random weights still separate images: mean pairwise |f_i - f_j| / |f_i| = "
            f"{f['mean_pairwise_rel_distance']:.3g}.", "",
            f"Command-line output: pytorch-fid `{c['pytorch_fid_stdout']}`; jaxgan "
            f"`{c['jaxgan_stdout']}`; jaxgan on pytorch-fid's --save-stats file of folder A "
            f"vs folder B: {c['jaxgan_reading_pytorch_fid_stats']:.10g}. Wall time of one "
            f"call each (start-up, compilation and {2 * c['images_per_folder']} images): "
            f"pytorch-fid {c['seconds_pytorch_fid_cli']} s, jaxgan {c['seconds_jaxgan_cli']} s "
            "(throughput: benchmarks/results/fid_speed.md).", ""]
  return "\n".join(lines)


def torch_rate(model, images: np.ndarray, batch: int) -> float:
  """Images/s of pytorch-fid's InceptionV3 on uint8 images (ToTensor + model)."""
  start = time.perf_counter()
  with torch.no_grad():
    for i in range(0, len(images), batch):
      x = torch.from_numpy(images[i:i + batch]).permute(0, 3, 1, 2).float().div(255)
      model(x)
  return len(images) / (time.perf_counter() - start)


def jax_rate(extractor, images: np.ndarray) -> float:
  start = time.perf_counter()
  extractor.activations(images)  # returns host arrays: the work is finished
  return len(images) / (time.perf_counter() - start)


def timed_evaluation(extractor, images: np.ndarray, real: np.ndarray) -> dict:
  """Seconds of one evaluation: features of `images`, then each metric against `real`."""
  out = {}

  def timed(name, fn, *a, **kw):
    start = time.perf_counter()
    value = fn(*a, **kw)
    out[name] = time.perf_counter() - start
    return value

  pool3, _ = timed("network", extractor.activations, images)
  logits, (mu_f, sigma_f), (mu_r, sigma_r) = timed(  # real's cached in a run, timed here
      "statistics_both_sets", lambda: (extractor.score_logits(pool3),
                                       metrics.feature_statistics(pool3),
                                       metrics.feature_statistics(real)))
  timed("frechet_sqrtm", metrics.frechet_distance_from_stats, mu_f, sigma_f, mu_r, sigma_r)
  timed("inception_score", metrics.inception_score, logits, num_splits=10)
  timed("kid_100x1000", metrics.kernel_inception_distance, pool3, real, num_subsets=100,
        subset_size=1000, rng=0)
  timed("prdc_k5", metrics.precision_recall_density_coverage, real, pool3, k=5)
  out["metrics"] = sum(v for k, v in out.items() if k != "network")
  out["total"] = out["network"] + out["metrics"]
  return {k: round(v, 1) for k, v in out.items()}


def speed(args) -> int:
  """Images/s of both networks and one timed evaluation: fid_speed.{json,md}."""
  load_before = os.getloadavg()

  from pytorch_fid import inception as pf  # pylint: disable=g-import-not-at-top
  variables, _, _ = seeded_weights(tempfile.mkdtemp(prefix="fid_speed_"))
  model = pf.InceptionV3([3]).eval()
  small = inception.Extractor(variables, batch_size=args.small_batch)
  large = inception.Extractor(variables, batch_size=args.batch)
  images = np.stack(cifar_images(args.cifar, args.images))

  start = time.perf_counter()
  large.activations(images[:args.batch])
  first_call = time.perf_counter() - start
  start = time.perf_counter()
  large.activations(images[:args.batch])
  warm_call = time.perf_counter() - start
  small.activations(images[:args.small_batch])
  torch_rate(model, images[:args.batch], args.batch)  # warm-up
  sides = {f"jaxgan_b{args.small_batch}": lambda: jax_rate(small, images),
           f"jaxgan_b{args.batch}": lambda: jax_rate(large, images),
           f"pytorch_fid_b{args.batch}": lambda: torch_rate(model, images, args.batch),
           f"pytorch_fid_b{args.small_batch}": lambda: torch_rate(model, images,
                                                                  args.small_batch)}
  rounds = []
  for r in range(args.rounds):
    rates = {name: round(run(), 3) for name, run in sides.items()}
    rates["load"] = round(os.getloadavg()[0], 2)
    rounds.append(rates)
    print(json.dumps({"round": r, **rates}), flush=True)
  medians = {name: statistics.median(r[name] for r in rounds) for name in sides}
  best_jax = max((k for k in medians if k.startswith("jaxgan")), key=medians.get)
  best_torch = max((k for k in medians if k.startswith("pytorch")), key=medians.get)

  evaluation = None
  if args.evaluation_samples:
    n = args.evaluation_samples
    print(f"one evaluation with {n} samples ...", flush=True)
    extractor = small if best_jax.endswith(f"_b{args.small_batch}") else large
    eval_images = np.stack(cifar_images(args.cifar, n, offset=args.images))
    # Stand-in real features (the cost does not depend on their values).
    rng = np.random.default_rng(0)
    real = np.abs(rng.standard_normal((n, inception.NUM_FEATURES))).astype(np.float32)
    evaluation = timed_evaluation(extractor, eval_images, real)
    evaluation["batch"] = extractor.batch_size
    print(json.dumps(evaluation), flush=True)

  result = {
      "commit": run_meta.git_commit(), "cpu": run_meta.cpu_name(),
      "cpu_count": os.cpu_count(), "jax": jax.__version__, "torch": torch.__version__,
      "devices": [str(d) for d in jax.devices()], "torch_threads": args.threads,
      "images_per_round": args.images, "load_before": [round(x, 2) for x in load_before],
      "load_after": [round(x, 2) for x in os.getloadavg()], "rounds": rounds,
      "median_images_per_s": {k: round(v, 3) for k, v in medians.items()},
      "best": {"jaxgan": best_jax, "pytorch_fid": best_torch,
               "ratio": round(medians[best_jax] / medians[best_torch], 3)},
      "jaxgan_first_call_s_incl_compile": round(first_call, 2),
      "jaxgan_compile_s_estimate": round(first_call - warm_call, 2),
      "evaluation_samples": args.evaluation_samples, "evaluation_seconds": evaluation,
      "cifar10_train_reference_estimate_s": round(50_000 / medians[best_jax], 1),
  }
  run_meta.write(args.out, "fid_speed", result, speed_markdown(result))
  print(speed_markdown(result))
  return 0


def speed_markdown(r: dict) -> str:
  names = list(r["median_images_per_s"])
  lines = [
      "# FID Inception-v3 throughput: jaxgan vs pytorch-fid", "",
      f"`benchmarks/references/fid_reference.py --speed` at commit {r['commit']}; "
      f"{r['cpu']} ({r['cpu_count']} CPUs, shared with other jobs), jax {r['jax']} on "
      f"{', '.join(r['devices'])}, torch {r['torch']} with {r['torch_threads']} threads. "
      f"Load average before / after: {r['load_before']} / {r['load_after']}.", "",
      f"Images/s, same seeded weights, same {r['images_per_round']} CIFAR-10 images "
      "(32x32 -> 299x299), rounds alternating:", "",
      "| round | " + " | ".join(names) + " | load (1 min) |",
      "|---|" + "---|" * (len(names) + 1),
  ]
  for i, x in enumerate(r["rounds"]):
    lines.append(f"| {i} | " + " | ".join(f"{x[n]:.2f}" for n in names) + f" | {x['load']} |")
  b = r["best"]
  lines += [
      "| median | " + " | ".join(f"{r['median_images_per_s'][n]:.2f}" for n in names)
      + " | |", "",
      f"Fastest of each: {b['jaxgan']} vs {b['pytorch_fid']}: ratio {b['ratio']}. "
      f"jaxgan's first call took {r['jaxgan_first_call_s_incl_compile']} s, about "
      f"{r['jaxgan_compile_s_estimate']} s of it compilation.", "",
  ]
  e = r["evaluation_seconds"]
  if e:
    lines += [
        f"One evaluation with {r['evaluation_samples']:,} samples (jaxgan, batch "
        f"{e['batch']}), seconds: network {e['network']}, metrics {e['metrics']} ("
        + ", ".join(f"{k} {e[k]}" for k in ("statistics_both_sets", "frechet_sqrtm",
                                           "inception_score", "kid_100x1000", "prdc_k5"))
        + f"); total {e['total']} s = {e['total'] / 60:.1f} min per generator (raw and "
        "EMA: twice), plus generating the samples.", "",
    ]
  lines += [f"The CIFAR-10 training-set reference (50,000 images, computed once and "
            f"cached) at the fastest rate: about "
            f"{r['cifar10_train_reference_estimate_s'] / 60:.0f} min.", ""]
  return "\n".join(lines)


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--cifar", required=True,
                      help="CIFAR-10 JPEG folder (cifar10-jpeg/train, one folder per class)")
  parser.add_argument("--out", default=os.path.join(run_meta.ROOT, "benchmarks", "results"))
  parser.add_argument("--golden", default=os.path.join(run_meta.ROOT, "tests",
                                                       "inception_golden.json"))
  parser.add_argument("--metric-images", type=int, default=300,
                      help="images per set for the Frechet / IS / KID / PRDC checks")
  parser.add_argument("--cli-images", type=int, default=200, help="PNGs per CLI folder")
  parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
  parser.add_argument("--float64-check", metavar="WEIGHTS_NPZ",
                      help="internal: run only the float64 check (needs JAX_ENABLE_X64=1)")
  parser.add_argument("--speed", action="store_true", help="time the networks instead")
  parser.add_argument("--images", type=int, default=200,
                      help="--speed: images per round and side")
  parser.add_argument("--rounds", type=int, default=3, help="--speed: timed rounds")
  parser.add_argument("--batch", type=int, default=50, help="--speed: pytorch-fid's default")
  parser.add_argument("--small-batch", type=int, default=10, help="--speed")
  parser.add_argument("--evaluation-samples", type=int, default=10_000,
                      help="--speed: images of the timed evaluation (0: skip it)")
  args = parser.parse_args()
  torch.set_num_threads(args.threads)
  if args.float64_check:
    print(json.dumps(float64_check(args.float64_check, args.cifar)))
    return 0
  if args.speed:
    return speed(args)
  load_before = os.getloadavg()

  work = tempfile.mkdtemp(prefix="fid_reference_")
  variables, state, hub_file = seeded_weights(os.path.join(work, "torch_home"))
  env = dict(os.environ, PYTHONPATH=run_meta.ROOT)
  # jaxgan reads the same weights through its own .pth path (a name without a hub hash).
  weights_pth = os.path.join(work, "fid_inception_seeded.pth")
  torch.save(state, weights_pth)
  variables_from_pth, _ = inception.load_weights(weights_pth)
  assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(variables),
                                                   jax.tree.leaves(variables_from_pth)))
  model, fc = torch_models(hub_file)
  extractor = inception.Extractor(variables, batch_size=50)

  print("features of varied images ...", flush=True)
  images, labels = varied_images(args.cifar)
  ref_pool3, ref_logits = torch_activations(model, fc, images)
  pool3, logits = flax_activations(extractor, images)
  features = {
      "labels": labels,
      "pool3": deviation(pool3, ref_pool3, FEATURE_TOL),
      "logits": deviation(logits, ref_logits, FEATURE_TOL),
      "per_image_pool3_max_abs": [float(np.abs(pool3[i] - ref_pool3[i]).max())
                                  for i in range(len(images))],
      "pool3_norms": [float(np.linalg.norm(p)) for p in ref_pool3],
      # Random weights must still separate images, or the comparison says little.
      "mean_pairwise_rel_distance": float(np.mean([
          np.linalg.norm(ref_pool3[i] - ref_pool3[j]) / np.linalg.norm(ref_pool3[i])
          for i in range(len(images)) for j in range(i)])),
  }
  print(json.dumps({k: v for k, v in features.items() if k != "labels"}), flush=True)

  print("float64 ...", flush=True)
  out, _ = run_cli([sys.executable, os.path.abspath(__file__), "--cifar", args.cifar,
                    "--threads", str(args.threads), "--float64-check",
                    os.path.splitext(weights_pth)[0] + ".npz"],
                   dict(env, JAX_ENABLE_X64="1"))
  float64 = json.loads(out.strip().splitlines()[-1])
  torch64 = np.asarray(float64.pop("torch_float64_pool3"))
  # How far each float32 implementation is from float64: float32 conditioning.
  float64["flax_float32_vs_torch_float64_pool3"] = deviation(pool3, torch64, FEATURE_TOL)
  float64["torch_float32_vs_torch_float64_pool3"] = deviation(ref_pool3, torch64, FEATURE_TOL)
  print(json.dumps(float64), flush=True)

  print("resize ...", flush=True)
  resize = check_resize(images)

  print(f"metric checks on {args.metric_images} + {args.metric_images} CIFAR images ...",
        flush=True)
  set_a = cifar_images(args.cifar, args.metric_images)
  set_b = cifar_images(args.cifar, args.metric_images, offset=args.metric_images)
  pool3_a, _ = extractor.activations(np.stack(set_a))
  pool3_b, _ = extractor.activations(np.stack(set_b))
  frechet = check_frechet(pool3_a, pool3_b)
  other = check_other_metrics(pool3_a, pool3_b, extractor.score_logits(pool3_a))

  print("command lines ...", flush=True)
  cli = check_cli(args.cifar, work, weights_pth, env, args.cli_images)

  print("golden values ...", flush=True)
  gold = golden(extractor, model, fc)
  with open(args.golden, "w") as f:
    json.dump(gold, f, indent=1)
    f.write("\n")

  result = {"commit": run_meta.git_commit(), "cpu": run_meta.cpu_name(),
            "torch": torch.__version__, "pytorch_fid": run_meta.version("pytorch-fid"),
            "torch_fidelity": run_meta.version("torch-fidelity"), "prdc": run_meta.version("prdc"),
            "jax": jax.__version__, "seed": SEED, "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()], "features": features,
            "float64": float64, "resize": resize, "frechet": frechet,
            "other_metrics": other, "cli": cli,
            "golden_deviation": gold["flax_deviation_here"]}
  run_meta.write(args.out, "fid_reference", result, markdown(result))
  print(markdown(result))
  ok = (features["pool3"]["within_tolerance"] and features["logits"]["within_tolerance"]
        and float64["pool3"]["within_tolerance"] and float64["logits"]["within_tolerance"]
        and resize["within_tolerance"] and cli["within_tolerance"]
        and all(c["within_tolerance"] for c in frechet.values())
        and other["prdc_k5"]["equal"])
  return 0 if ok else 1


if __name__ == "__main__":
  sys.exit(main())
