"""Augmentation on small data: none / diffaug / ada on subsets of the digits or CIFAR-10.

    nice -n 19 python benchmarks/augment_table.py [--recipes wgan_gp,nsgan] [--fractions 0.1,0.25]
        [--augments none,diffaug,ada] [--seeds 4] [--steps 1500] [--ada_kimg 100]
        [--workdir_root /tmp/augment_table] [--out benchmarks/results]
    nice -n 19 python benchmarks/augment_table.py --cifar10 /tmp/cifar10-jpeg/train
        [--sizes 2500,10000] [--width 16] [--steps 600] ...

Digits: for each fraction f, the first f of every class of the digits' training split
(jaxgan/data/digits.py split_indices, sklearn's bundled images) is written as a
folder of 8x8 PNGs in class sub-folders, and the recipe trains on it as a
population of --seeds seeds (`configs/<recipe>.py:dataset=folder,arch=mlp,
augment=<a>`, with the digits recipe's model sizes: image_size 8, z_dim 64,
hidden 3 x 256) through jaxgan.loop.train_and_evaluate. Each member is then
scored as a digits run is: the digits evaluation classifier (trained on the whole
training split) on 2,500 samples, Frechet distance to the whole training split's
features, mean +- Student-t 95% interval over the seeds. A small folder's own
classifier would be trained on the few images the GAN saw, so the digits one
judges every cell on the same ground. Wall time is the training call (4 members
in one compiled step), with compilation.

CIFAR-10 (--cifar10: a folder of class sub-folders, e.g. the CIFAR-10 training JPEGs
unpacked): for each size n, the first n/10 images of every class (sorted names),
linked into a folder; the recipe trains on it at 32x32 with arch=dcgan at conv
width --width (the recipes' 64 runs ~1.3 WGAN-GP steps/s on a 2-core CPU), and
every member is scored by the evaluation classifier of the whole folder (trained
once on five sixths of it and cached), FD against its held-out sixth.

ADA's ada_kimg is --ada_kimg (StyleGAN2-ADA's own 100 for short transfer runs, its
train.py; the 500 default moves p by at most ~1 over a CPU-sized run). Writes
<out>/augment[_cifar10].json and .md; a finished cell in --workdir_root is not retrained.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import jax  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import run_meta  # noqa: E402

from jaxgan import loop, runs  # noqa: E402
from jaxgan.data import digits as digits_data  # noqa: E402


def write_subset(fraction: float, root: str) -> int:
  """The first `fraction` of each class of the digits' training split as PNGs; count."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  data = datasets.load_digits()
  train = digits_data.split_indices(len(data.images), "train")
  count = 0
  for label in range(10):
    members = [i for i in train if data.target[i] == label]
    take = members[:max(1, round(fraction * len(members)))]
    os.makedirs(os.path.join(root, str(label)), exist_ok=True)
    for n, i in enumerate(take):
      pixels = digits_data.to_uint8(data.images[i])
      Image.fromarray(pixels, mode="L").save(os.path.join(root, str(label), f"{n:03d}.png"))
    count += len(take)
  return count


def write_cifar_subset(source: str, size: int, root: str) -> int:
  """The first size/10 images (sorted names) of each class of `source`, linked; count."""
  count = 0
  for label in sorted(os.listdir(source)):
    os.makedirs(os.path.join(root, label), exist_ok=True)
    for name in sorted(os.listdir(os.path.join(source, label)))[:size // 10]:
      link = os.path.join(root, label, name)
      if not os.path.exists(link):
        os.symlink(os.path.abspath(os.path.join(source, label, name)), link)
      count += 1
  return count


def cell_config(args, recipe: str, variant: str, overrides: dict):
  config = run_meta.recipe_config(recipe, variant, overrides)
  if args.cifar10:
    config.dataset.image_size = 32  # CIFAR-10's own size
    config.model.width = args.width
  else:
    config.dataset.image_size = 8  # the digits' own size
    config.model.z_dim = 64  # the digits recipe's (base_config.make)
    config.model.hidden = (256, 256, 256)  # the digits recipe's MLP
  config.population.size = args.seeds
  config.train.num_steps = args.steps
  config.log.eval_every = 0  # scored below with the digits classifier
  config.log.checkpoint_every = args.steps
  config.log.sample_every = args.steps
  config.augment.ada_kimg = args.ada_kimg
  return config


def run_cell(args, recipe, fraction, folder, augment):
  """One cell: `fraction` names the subset (digits: a fraction; CIFAR-10: a size)."""
  arch = "dcgan" if args.cifar10 else "mlp"
  workdir = os.path.join(args.workdir_root, f"{recipe}_f{fraction:g}_{augment}")
  variant = f"dataset=folder,arch={arch},augment={augment}"
  config = cell_config(args, recipe, variant, {"dataset.path": folder})
  done = os.path.exists(os.path.join(workdir, "train_seconds.json"))
  if done:
    with open(os.path.join(workdir, "train_seconds.json")) as f:
      seconds = json.load(f)["seconds"]
  else:
    t0 = time.monotonic()
    loop.train_and_evaluate(config, workdir)
    seconds = time.monotonic() - t0
    with open(os.path.join(workdir, "train_seconds.json"), "w") as f:
      json.dump({"seconds": seconds}, f)
  # The same networks read as a run on the whole data, scored by its evaluator.
  if args.cifar10:
    scoring = cell_config(args, recipe, variant, {"dataset.path": args.cifar10})
  else:
    scoring = cell_config(args, recipe, f"dataset=digits,arch=mlp,augment={augment}",
                          {"dataset.data_dir": args.data_dir})
  run = runs.setup(scoring, devices=jax.devices()[:1])
  step, state, _ = run.restore(os.path.join(workdir, "checkpoints"))
  evaluators = run.runs.evaluators(run.spec, workdir + "_scored")
  result, _ = run.runs.evaluate(evaluators, state, step, run.runs.members, {},
                                os.path.join(workdir + "_scored", "eval"),
                                lambda *a: None)
  metric = scoring.population.best_metric  # the classifier's FD on images
  summary = result["groups"][0]["summary"]["raw"][metric]
  per_seed = [m["generators"]["raw"][metric] for m in result["members"] if "generators" in m]
  p = ([float(v) for v in np.asarray(state.members.augment["p"])]
       if augment == "ada" else None)
  return {"fraction": fraction, "augment": augment, "recipe": recipe, "steps": step,
          "metric": metric,
          "seeds": args.seeds, "fd_mean": summary["mean"], "fd_ci95": summary["ci95"],
          "fd_per_seed": per_seed, "final_p": p, "train_seconds": seconds}


def table(rows, images, data: str) -> str:
  lines = [f"| recipe | {data} subset | images | augment | steps | seeds | FD (evaluation "
           "classifier), mean +- 95% CI | FD per seed | ADA final p per seed | train wall (s) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    p = ", ".join(f"{v:.3f}" for v in r["final_p"]) if r["final_p"] else ""
    subset = f"{r['fraction']:.0%}" if r["fraction"] < 1 else f"{r['fraction']:,.0f}"
    lines.append(
        f"| {r['recipe']} | {subset} | {images[r['fraction']]} | {r['augment']} "
        f"| {r['steps']:,} | "
        f"{r['seeds']} | {r['fd_mean']:.1f} +- {r['fd_ci95']:.1f} | "
        f"{', '.join(f'{v:.1f}' for v in r['fd_per_seed'])} | {p} | {r['train_seconds']:.0f} |")
  return "\n".join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--recipes", default="wgan_gp", help="configs/<recipe>.py, comma-separated")
  parser.add_argument("--fractions", default="0.1,0.25")
  parser.add_argument("--augments", default="none,diffaug,ada")
  parser.add_argument("--seeds", type=int, default=4)
  parser.add_argument("--steps", type=int, default=1500)
  parser.add_argument("--ada_kimg", type=float, default=100.0)
  parser.add_argument("--workdir_root", default="/tmp/augment_table")
  parser.add_argument("--data_dir", default="", help="TFDS data_dir of the digits scorer")
  parser.add_argument("--cifar10", default="",
                      help="a CIFAR-10 folder of class sub-folders: subsets of it, not digits")
  parser.add_argument("--sizes", default="2500,10000", help="--cifar10: images per subset")
  parser.add_argument("--width", type=int, default=16, help="--cifar10: DCGAN conv width")
  parser.add_argument("--out", default=os.path.join(HERE, "results"))
  args = parser.parse_args(argv)
  meta = {"commit": run_meta.git_commit(), "cpu": run_meta.cpu_name(), "jax": jax.__version__,
          "started": time.strftime("%Y-%m-%d %H:%M"), "load_before": os.getloadavg(),
          "args": vars(args)}
  rows, images, folders = [], {}, {}
  data = "CIFAR-10" if args.cifar10 else "digits"
  stem = "augment_cifar10" if args.cifar10 else "augment"
  subsets = args.sizes if args.cifar10 else args.fractions
  for fraction in [float(f) for f in subsets.split(",")]:
    folders[fraction] = os.path.join(args.workdir_root, f"{stem}_{fraction:g}")
    images[fraction] = (write_cifar_subset(args.cifar10, int(fraction), folders[fraction])
                        if args.cifar10 else write_subset(fraction, folders[fraction]))
  for recipe in args.recipes.split(","):
    for fraction, folder in folders.items():
      for augment in args.augments.split(","):
        rows.append(run_cell(args, recipe, fraction, folder, augment))
        print(json.dumps(rows[-1]), flush=True)
        meta["load_after"] = os.getloadavg()
        run_meta.write(args.out, stem, {"meta": meta, "images": images, "rows": rows},
                       f"Augmentation on {data} subsets ({meta}).\n\n"
                       f"{table(rows, images, data)}\n")
  print(table(rows, images, data))


if __name__ == "__main__":
  main()
