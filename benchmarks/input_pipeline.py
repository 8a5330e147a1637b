"""Input pipeline throughput next to what the default train step consumes.

    python benchmarks/input_pipeline.py [--items 200] [--stall_items 0]
        [--out benchmarks/results/input_pipeline.json]

Offline, on locally generated data of each dataset's shape (random images, so
PNG / JPEG decoding is if anything slower than on real photos):

  mnist    28x28x1  local TFDS builder, 10,000 PNG-encoded examples
  cifar10  32x32x3  local TFDS builder, 10,000 PNG-encoded examples
  celeb_a  218x178x3 local TFDS builder, 1,000 JPEG examples, trained at 64x64
  folder   400 JPEG "photos" of 240..500 px a side, trained at 64x64 (flower_photos)
  digits   the real offline digits builder (the default run)

The synthetic builders stand in for the real ones behind `jaxgan.data`'s own
code path (`images.tfds_builder` is swapped, nothing else), so each row runs the
pipeline the trainer runs: `in_memory` (decoded once, numpy gathers) where the
dataset fits, `streaming` (tf.data, parallel decode) otherwise; the small datasets
are also forced onto `streaming` to show what the in-memory path buys.

For each row: examples/s the iterator delivers (after one warm-up item; build
time reported separately as load_s), the process CPU seconds it burns per 1,000
examples and hence the cores it needs at the step's rate, examples/s the dataset's
default WGAN-GP step (configs/wgan_gp.py:dataset=NAME) consumes on a constant
batch, and the same step fed from the iterator (fed_step_examples_per_s). Target:
pipeline >= 5x step. --stall_items N also times `del` of a streaming digits
iterator after N items drawn by a slower consumer (the old exit stall).
Prints one JSON object per row and writes all rows to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402
from PIL import Image  # noqa: E402

from configs import wgan_gp  # noqa: E402
from jaxgan import data, factory, parallel, train  # noqa: E402
from jaxgan.data import images  # noqa: E402

# name -> (stored image shape, examples, encoding): the shapes of the real datasets.
SYNTHETIC = {"mnist": ((28, 28, 1), 10_000, "png"),
             "cifar10": ((32, 32, 3), 10_000, "png"),
             "celeb_a": ((218, 178, 3), 1_000, "jpeg")}


# The datasets jaxgan.data holds in memory (fixed shape, small); the rest stream.
IN_MEMORY = ("mnist", "cifar10", "digits")


def smooth_images(rng, n, height, width, channels):
  """Photo-like uint8 images: upsampled coarse random colour fields plus noise."""
  coarse = rng.uniform(0, 255, (n, 6, 6, channels)).astype(np.float32)
  rows = np.linspace(0, 5, height).round().astype(int)
  cols = np.linspace(0, 5, width).round().astype(int)
  fine = coarse[:, rows][:, :, cols] + rng.normal(0, 12, (n, height, width, channels))
  return np.clip(fine, 0, 255).astype(np.uint8)


class Synthetic(tfds.core.GeneratorBasedBuilder):
  """Random images with the shape and encoding of a real dataset (one config each)."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=name) for name in SYNTHETIC]

  @tfds.core.utils.classproperty
  @classmethod
  def url_infos(cls):
    return None  # nothing to download (and no checksums file to look up)

  def _info(self):
    shape, _, encoding = SYNTHETIC[self.builder_config.name]
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=shape, encoding_format=encoding)}))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    shape, num, _ = SYNTHETIC[self.builder_config.name]
    rng = np.random.default_rng(0)
    for start in range(0, num, 1000):
      for i, image in enumerate(smooth_images(rng, min(1000, num - start), *shape)):
        yield start + i, {"image": image}


def use_synthetic_builders(data_dir):
  """Makes jaxgan.data read the synthetic builders under the real dataset names."""
  real = images.tfds_builder

  def builder(name, unused_data_dir):
    if name not in SYNTHETIC:
      return real(name, data_dir)
    b = Synthetic(config=name, data_dir=data_dir)
    if not b.is_prepared():
      b.download_and_prepare()
    return b

  images.tfds_builder = builder


def photo_folder(root, n, seed=0):
  """n JPEGs of 240..500 px a side, the flower_photos kind of folder."""
  rng = np.random.default_rng(seed)
  os.makedirs(root, exist_ok=True)
  for i in range(n):
    h, w = rng.integers(240, 501, size=2)
    Image.fromarray(smooth_images(rng, 1, h, w, 3)[0]).save(
        os.path.join(root, f"{i}.jpg"), quality=90)
  return root


def pipeline_rate(dataset_cfg, config, items):
  """(examples/s, CPU s per 1,000 examples, load s) of the iterator alone."""
  batch, n_critic = config.train.batch_size, config.train.n_critic
  t = time.perf_counter()
  it = data.make_iterator(dataset_cfg, global_batch_size=batch, n_critic=n_critic,
                          seed=0)
  next(it)
  load = time.perf_counter() - t
  wall, cpu = time.perf_counter(), time.process_time()
  for _ in range(items):
    next(it)
  wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
  examples = items * batch * n_critic
  return examples / wall, 1000 * cpu / examples, load


def step_rates(dataset_cfg, config, steps):
  """(examples/s on a constant batch, examples/s fed from the iterator)."""
  shape = factory.validate(config)
  spec = factory.make_step_spec(config, shape)
  step = parallel.compile_step(spec)
  state = train.init_state(spec, jax.random.PRNGKey(0), shape)
  it = data.make_iterator(dataset_cfg, global_batch_size=config.train.batch_size,
                          n_critic=config.train.n_critic, seed=0)
  real = next(it)
  state, metrics = step(state, real)  # compile
  jax.block_until_ready(metrics)
  per_step = config.train.n_critic * config.train.batch_size
  rates = []
  for feed in (lambda: real, lambda: next(it)):
    next(it)  # a warm iterator for the fed run
    t = time.perf_counter()
    for _ in range(steps):
      state, metrics = step(state, feed())
    jax.block_until_ready(metrics)
    rates.append(steps * per_step / (time.perf_counter() - t))
  return rates


def exit_stall(data_dir, items, sleep):
  """Seconds `del` takes on a streaming digits iterator after `items` slow draws."""
  images.IN_MEMORY_MAX_BYTES = 0
  cfg = wgan_gp.get_config().dataset
  cfg.data_dir = data_dir
  it = data.make_iterator(cfg, global_batch_size=64, n_critic=5, seed=0)
  for _ in range(items):
    next(it)
    time.sleep(sleep)
  t = time.perf_counter()
  del it
  return time.perf_counter() - t


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--items", type=int, default=200,
                      help="items timed per in-memory case (streaming: a tenth, >= 20)")
  parser.add_argument("--steps", type=int, default=10, help="train steps timed per case")
  parser.add_argument("--stall_items", type=int, default=0,
                      help="also time del after this many streaming digits items")
  parser.add_argument("--out", default="benchmarks/results/input_pipeline.json")
  args = parser.parse_args()
  tmp = tempfile.mkdtemp()
  data_dir = os.path.join(tmp, "tfds")
  use_synthetic_builders(data_dir)
  default_budget = images.IN_MEMORY_MAX_BYTES
  cases = [("mnist", "in_memory"), ("mnist", "streaming"),
           ("cifar10", "in_memory"), ("cifar10", "streaming"),
           ("celeb_a", "streaming"), ("folder", "streaming"),
           ("digits", "in_memory"), ("digits", "streaming")]
  rows = []
  for name, path in cases:
    config = wgan_gp.get_config(f"dataset={name}")
    cfg = config.dataset
    cfg.data_dir = data_dir
    if name == "folder":
      cfg.path = photo_folder(os.path.join(tmp, "photos"), 400)
    images.IN_MEMORY_MAX_BYTES = 0 if path == "streaming" else default_budget
    items = args.items if path == "in_memory" else max(args.items // 10, 20)
    delivered, cpu_per_1k, load = pipeline_rate(cfg, config, items)
    steps = args.steps * (20 if name == "digits" else 1)
    consumed, fed = step_rates(cfg, config, steps)
    row = {"data": name, "shape": list(data.data_shape(cfg)), "path": path,
           "default_path": path == ("in_memory" if name in IN_MEMORY else "streaming"),
           "pipeline_examples_per_s": round(delivered),
           "step_examples_per_s": round(consumed),
           "fed_step_examples_per_s": round(fed),
           "ratio": round(delivered / consumed, 1),
           "target_met": bool(delivered >= 5 * consumed),
           "pipeline_cpu_s_per_1k_examples": round(cpu_per_1k, 4),
           "pipeline_cores_at_step_rate": round(cpu_per_1k * consumed / 1000, 3),
           "load_s": round(load, 1), "batch": config.train.batch_size,
           "n_critic": config.train.n_critic, "arch": config.model.arch}
    rows.append(row)
    print(json.dumps(row), flush=True)
  images.IN_MEMORY_MAX_BYTES = default_budget
  result = {"rows": rows}
  if args.stall_items:
    # ~the default digits step's pace (~63 items/s measured before the in-memory path)
    stall = exit_stall(data_dir, args.stall_items, sleep=0.01)
    result["exit_stall"] = {"items": args.stall_items, "del_s": round(stall, 3),
                            "path": "streaming digits, consumer sleeping 10 ms/item"}
    print(json.dumps(result["exit_stall"]), flush=True)
  result["meta"] = {"machine": platform.machine(), "cpus": os.cpu_count(),
                    "jax": jax.__version__, "tfds": tfds.__version__,
                    "load_average": os.getloadavg()}
  print(json.dumps(result["meta"]))
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump(result, f, indent=1)


if __name__ == "__main__":
  main()
