"""A classifier below its accuracy floor is flagged in the evaluation JSON and line;
its cache key names the data it was trained on (a real run on a generated folder)."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from jaxgan.eval import classifier
from launcher import launch


def test_the_floor_is_twice_chance_at_least_a_half_and_never_perfection():
  assert classifier.accuracy_floor(10) == 0.5
  assert classifier.accuracy_floor(3) == pytest.approx(2 / 3)
  assert classifier.accuracy_floor(2) == 0.75  # halfway from chance, not 2 x chance = 1
  assert "untrustworthy" not in classifier.trust(0.97, 10)
  verdict = classifier.trust(0.4, 2)
  assert verdict["test_accuracy"] == 0.4 and verdict["chance"] == 0.5
  assert "held-out accuracy 0.400 is below its floor 0.750" in verdict["untrustworthy"]


@pytest.mark.slow
def test_a_classifier_of_two_classes_of_noise_is_flagged_in_the_json_and_the_line(tmp_path):
  photos = tmp_path / "photos"
  rng = np.random.default_rng(0)
  for name in ("cats", "dogs"):  # the same noise under two names: nothing to learn
    (photos / name).mkdir(parents=True)
    for i in range(60):
      Image.fromarray(rng.integers(0, 256, (8, 8), np.uint8)).save(photos / name / f"{i}.png")
  workdir = tmp_path / "run"
  result = launch("--config=configs/wgan_gp.py:dataset=folder", f"--workdir={workdir}",
                  f"--config.dataset.path={photos}", "--config.dataset.image_size=8",
                  "--config.model.width=4", "--config.train.batch_size=8",
                  "--config.train.num_steps=2", "--config.log.eval_every=2",
                  "--config.eval.num_samples=50", "--config.eval.kid_subsets=2",
                  f"--config.eval.classifier_dir={tmp_path / 'cache'}", timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  with open(workdir / "eval" / "step_000002.json") as f:
    verdict = json.load(f)["classifier"]
  assert verdict["floor"] == 0.75 and verdict["test_accuracy"] < 0.75
  assert "is below its floor 0.750" in verdict["untrustworthy"]
  (line,) = [l for l in result.stdout.splitlines() if "eval at step 2" in l]
  assert "CLASSIFIER METRICS UNTRUSTWORTHY: the classifier's held-out accuracy" in line
  assert "classifier: about" in result.stdout  # its training time, estimated up front
  (meta,) = [n for n in os.listdir(tmp_path / "cache") if n.startswith("classifier_")
             and n.endswith(".json")]
  with open(tmp_path / "cache" / meta) as f:
    key = json.load(f)
  assert key["folder"] == str(photos) and key["held_out_every"] == 6 and key["folder_digest"]
