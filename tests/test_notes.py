"""What a training says at start-up: the CPU-sized folder default and a shortened
run's learning-rate decay (real configs and a real launch.py run)."""

import os

import numpy as np
from PIL import Image

from configs import dragan
from configs import sngan
from configs import wgan_gp
from jaxgan import notes
from launcher import launch


def test_a_60_image_folder_trains_a_cpu_sized_model_and_says_so(tmp_path):
  photos = tmp_path / "photos"
  photos.mkdir()
  rng = np.random.default_rng(0)
  for i in range(60):
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), np.uint8)).save(photos / f"{i}.png")
  workdir = tmp_path / "run"
  result = launch("--config=configs/wgan_gp.py:dataset=folder", f"--workdir={workdir}",
                  f"--config.dataset.path={photos}", "--config.train.num_steps=2",
                  "--config.train.batch_size=8", "--config.log.eval_every=0",
                  "--config.log.sample_every=1000")
  assert result.returncode == 0, result.stderr[-2000:]
  lines = result.stdout.splitlines()
  (start,) = [l for l in lines if " training: " in l]
  assert "folder (32x32x3, 3 channel(s)), dcgan generator" in start
  assert any("image folder: resized to 32x32 for a width-32 DCGAN, the CPU-sized default; "
             "for the WGAN-GP DCGAN at 64x64 (an accelerator's size) add "
             "--config.dataset.image_size=64 --config.model.width=64" in l for l in lines)
  said = [i for i, l in enumerate(lines) if "opening the data and compiling" in l]
  compiled = [i for i, l in enumerate(lines) if "train step compiled" in l]
  assert said and compiled and said[0] < compiled[0]  # a line before the long steps
  assert os.path.exists(workdir / "checkpoints" / "2")


def test_every_recipe_sizes_a_folder_for_a_cpu():
  for recipe in (wgan_gp, dragan, sngan):
    config = recipe.get_config("dataset=folder")
    assert (config.model.arch, config.model.width, config.dataset.image_size) == (
        "dcgan", 32, 32), recipe.__name__
  assert sngan.get_config("dataset=folder,arch=sngan").model.arch == "sngan"  # the paper's


def test_a_shortened_recipe_with_a_linear_decay_says_it_decays_over_the_short_run():
  config = wgan_gp.get_config("dataset=8gaussians")
  assert not [n for n in notes.start_notes(config) if "shortened" in n]  # its own budget
  config.train.num_steps = 400
  (note,) = [n for n in notes.start_notes(config) if "shortened" in n]
  assert note == ("shortened run: the learning rate decays linearly to 0 over these 400 "
                  "steps (the recipe's budget is 20,000); to try the recipe's first steps "
                  "at its own rates add --config.optimizer.decay_steps=20000")
  config.optimizer.decay_steps = 20000  # the recipe's own decay: nothing to warn about
  assert not [n for n in notes.start_notes(config) if "shortened" in n]
  config = sngan.get_config("dataset=8gaussians")  # a 3,000-step toy recipe, not shortened
  assert not [n for n in notes.start_notes(config) if "shortened" in n]
  config = wgan_gp.get_config("dataset=mnist")  # constant rate: nothing decays
  config.train.num_steps = 400
  assert not notes.start_notes(config)
