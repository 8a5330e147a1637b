"""Throughput of the FID Inception-v3: jaxgan (JAX, compiled) vs pytorch-fid, same images.

    . /work/venv-fidref/bin/activate        # the [fid_reference] venv (torch + jax)
    python benchmarks/references/fid_speed.py --cifar /tmp/cifar10-jpeg/train

Both networks get the same seeded weights (see fid_reference.py) and the same CIFAR-10
images (32x32, resized to 299x299 by each network's own input handling); torch is
limited to --threads CPU threads. Each side runs at batch 50 (pytorch-fid's default)
and at a small batch (--small-batch), rounds alternating so a change in machine load
hits all four; images/s is the median over rounds, after one warm-up call (jaxgan's
first call includes its compilation, reported separately).

Then one whole evaluation as a training run does it, timed: jaxgan's features of
--evaluation-samples CIFAR-10 images (stand-ins for generated ones) at the faster
batch size, and every metric against a reference of that many real features (FID with
its 2048x2048 matrix square root, IS, KID with 100 subsets of 1,000, precision /
recall / density / coverage with k = 5). Results: benchmarks/results/fid_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.references import fid_reference  # noqa: E402
from benchmarks import run_meta  # noqa: E402
from tests import inception_testing as inception  # noqa: E402
from jaxgan.eval import metrics  # noqa: E402


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
  start = time.perf_counter()
  pool3, _ = extractor.activations(images)
  out["network"] = time.perf_counter() - start
  start = time.perf_counter()
  logits = extractor.score_logits(pool3)
  mu_f, sigma_f = metrics.feature_statistics(pool3)
  mu_r, sigma_r = metrics.feature_statistics(real)  # cached in a run, here timed too
  out["statistics_both_sets"] = time.perf_counter() - start
  start = time.perf_counter()
  metrics.frechet_distance_from_stats(mu_f, sigma_f, mu_r, sigma_r)
  out["frechet_sqrtm"] = time.perf_counter() - start
  start = time.perf_counter()
  metrics.inception_score(logits, num_splits=10)
  out["inception_score"] = time.perf_counter() - start
  start = time.perf_counter()
  metrics.kernel_inception_distance(pool3, real, num_subsets=100, subset_size=1000, rng=0)
  out["kid_100x1000"] = time.perf_counter() - start
  start = time.perf_counter()
  metrics.precision_recall_density_coverage(real, pool3, k=5)
  out["prdc_k5"] = time.perf_counter() - start
  out["metrics"] = sum(v for k, v in out.items() if k != "network")
  out["total"] = out["network"] + out["metrics"]
  return {k: round(v, 1) for k, v in out.items()}


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--cifar", required=True, help="CIFAR-10 JPEG folder (per class)")
  parser.add_argument("--images", type=int, default=200, help="images per round and side")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--batch", type=int, default=50, help="pytorch-fid's default")
  parser.add_argument("--small-batch", type=int, default=10)
  parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
  parser.add_argument("--evaluation-samples", type=int, default=10_000,
                      help="images of the timed evaluation (0: skip it)")
  parser.add_argument("--out", default=os.path.join(run_meta.ROOT, "benchmarks", "results"))
  args = parser.parse_args()
  torch.set_num_threads(args.threads)
  load_before = os.getloadavg()

  import tempfile  # pylint: disable=g-import-not-at-top
  from pytorch_fid import inception as pf  # pylint: disable=g-import-not-at-top
  torch_home = tempfile.mkdtemp(prefix="fid_speed_")
  os.environ["TORCH_HOME"] = torch_home
  hub_file = os.path.join(torch_home, "hub", "checkpoints",
                          os.path.basename(pf.FID_WEIGHTS_URL))
  os.makedirs(os.path.dirname(hub_file))
  variables = inception.seeded_calibrated_variables(fid_reference.SEED)
  torch.save({k: torch.tensor(v) for k, v in
              inception.state_dict_from_variables(variables).items()}, hub_file)
  model = pf.InceptionV3([3]).eval()
  small = inception.Extractor(variables, batch_size=args.small_batch)
  large = inception.Extractor(variables, batch_size=args.batch)
  images = np.stack(fid_reference.cifar_images(args.cifar, args.images))

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
    eval_images = np.stack(fid_reference.cifar_images(args.cifar, n, offset=args.images))
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
  os.makedirs(args.out, exist_ok=True)
  with open(os.path.join(args.out, "fid_speed.json"), "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")
  text = markdown(result)
  with open(os.path.join(args.out, "fid_speed.md"), "w") as f:
    f.write(text)
  print(text)
  return 0


def markdown(r: dict) -> str:
  names = list(r["median_images_per_s"])
  lines = [
      "# FID Inception-v3 throughput: jaxgan vs pytorch-fid", "",
      f"`benchmarks/references/fid_speed.py` at commit {r['commit']}; {r['cpu']} ({r['cpu_count']} "
      f"CPUs, shared with other jobs), jax {r['jax']} on {', '.join(r['devices'])}, torch "
      f"{r['torch']} with {r['torch_threads']} threads. Load average before / after: "
      f"{r['load_before']} / {r['load_after']}.", "",
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


if __name__ == "__main__":
  sys.exit(main())
