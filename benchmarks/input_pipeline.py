"""Input pipeline throughput vs what the default train step consumes.

    python benchmarks/input_pipeline.py [--items 300] [--out benchmarks/results/input_pipeline.json]

For mnist-shaped (28x28x1) and cifar10-shaped (32x32x3) data, measures examples/s
delivered by jaxgan.data (per-process items [n_critic, B, ...], one process) through
both of its paths, without and with labels:
  in_memory  TFDS dataset decoded once and served from memory (digits, mnist,
             fashion_mnist, cifar10), here on tfds.testing.mock_data examples;
  streaming  the tf.data path of folders / tf_flowers / celeb_a, here on a folder
             of locally generated PNGs of that shape (grey PNGs for the mnist shape,
             so it streams one channel) in ten class sub-folders.
and, on the same machine, examples/s the compiled WGAN-GP step consumes for that
dataset's default recipe (n_critic * batch per step). Also the offline digits
default. Prints one JSON object per line and writes them all to --out.
The target is pipeline >= 5x step, so input is never the bottleneck.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402
from PIL import Image  # noqa: E402

import run_meta  # noqa: E402  (benchmarks/, on sys.path as the script's dir)
from configs import wgan_gp  # noqa: E402
from jaxgan import data, runs  # noqa: E402


def pipeline_rate(cfg, *, batch, n_critic, items, with_labels, mock_examples=None):
  """Examples/s over `items` items after one warm-up item (load/decode excluded)."""
  def run():
    it = data.make_iterator(cfg, global_batch_size=batch, n_critic=n_critic, seed=0,
                            with_labels=with_labels)
    next(it)
    t = time.perf_counter()
    for _ in range(items):
      next(it)
    return items * batch * n_critic / (time.perf_counter() - t)
  if mock_examples is None:
    return run()
  with tfds.testing.mock_data(num_examples=mock_examples):
    return run()


def step_rate(config, repeats=3, steps=20):
  """Examples/s the compiled default step consumes (median of `repeats`)."""
  run = runs.setup(config, devices=jax.devices()[:1])
  step, state = run.compile(run.init_state())
  real = run.global_batch(np.tanh(np.random.default_rng(0).normal(
      size=(config.train.n_critic, config.train.batch_size) + run.data_shape)).astype(np.float32))
  state, m = step(state, real)
  jax.block_until_ready(m)
  rates = []
  for _ in range(repeats):
    t = time.perf_counter()
    for _ in range(steps):
      state, m = step(state, real)
    jax.block_until_ready(m)
    rates.append(steps * config.train.n_critic * config.train.batch_size /
                 (time.perf_counter() - t))
  return float(np.median(rates))


def _folder(root, n, shape, num_classes=10, seed=0):
  """n random PNGs of `shape` (h, w, c), grey (mode L) if c == 1, in class sub-folders."""
  rng_np = np.random.default_rng(seed)
  for i in range(n):
    pixels = rng_np.integers(0, 256, shape, dtype=np.uint8)
    directory = os.path.join(root, f"class{i % num_classes}")
    os.makedirs(directory, exist_ok=True)
    Image.fromarray(pixels[..., 0] if shape[-1] == 1 else pixels).save(
        os.path.join(directory, f"{i}.png"))
  return root


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--items", type=int, default=300, help="items timed per case")
  parser.add_argument("--out", default="benchmarks/results/input_pipeline.json")
  args = parser.parse_args()
  tmp = tempfile.mkdtemp()
  rows = []
  cases = [("mnist", "dataset=mnist"), ("cifar10", "dataset=cifar10"), ("digits", None)]
  for name, variant in cases:
    config = wgan_gp.get_config(variant)
    batch, n_critic = config.train.batch_size, config.train.n_critic
    consumed = step_rate(config, steps=5 if name != "digits" else 50)
    cfg = config.dataset
    cfg.data_dir = os.path.join(tmp, "tfds")
    shape = data.data_shape(cfg)
    configs = {"in_memory": (cfg, args.items, None if name == "digits" else 10000)}
    if name != "digits":
      folder_cfg = wgan_gp.get_config("dataset=folder").dataset
      folder_cfg.path = _folder(os.path.join(tmp, name), 2000, shape)
      folder_cfg.image_size = shape[0]
      assert data.data_shape(folder_cfg) == shape  # grey PNGs stream one channel
      configs["streaming"] = (folder_cfg, max(args.items // 10, 20), None)
    for path, (dataset_cfg, items, mock_examples) in configs.items():
      for with_labels in (False, True):
        delivered = pipeline_rate(dataset_cfg, batch=batch, n_critic=n_critic,
                                  items=items, with_labels=with_labels,
                                  mock_examples=mock_examples)
        row = {"data": name, "shape": list(shape), "path": path,
               "labels": with_labels, "pipeline_examples_per_s": round(delivered),
               "step_examples_per_s": round(consumed),
               "ratio": round(delivered / consumed, 1),
               "target_met": delivered >= 5 * consumed,
               "batch": batch, "n_critic": n_critic, "arch": config.model.arch}
        rows.append(row)
        print(json.dumps(row), flush=True)
  meta = {"machine": run_meta.cpu_name(), "cpus": os.cpu_count(),
          "commit": run_meta.git_commit(), "jax": jax.__version__,
          "tfds": tfds.__version__, "load_average": os.getloadavg()}
  print(json.dumps(meta))
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump({"rows": rows, "meta": meta}, f, indent=1)
  os._exit(0)  # skip tf.data teardown


if __name__ == "__main__":
  main()
