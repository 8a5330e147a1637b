"""The README's train command, run as is: the final samples must be recognisable
digits of all ten classes, as judged by an independent classifier.

The judge is a logistic regression trained on the real 8x8 digits (the GAN never
sees it). It is checked against real held-out digits (must pass) and uniform
noise (must fail) in the same test, so the thresholds mean something.
The whole default run: the slowest test of the suite.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIN_MEAN_CONFIDENCE = 0.70  # real held-out digits: ~0.84; uniform noise: ~0.45
MIN_CLASS_SHARE = 0.03  # every digit class among >= 3% of samples (balanced: 10%)


def _judge():
  digits = load_digits()
  x = np.round(digits.data * 255 / 16) / 127.5 - 1  # the builder's uint8, then [-1, 1]
  x_train, x_test, y_train, _ = train_test_split(x, digits.target, test_size=0.3,
                                                 random_state=0)
  return LogisticRegression(max_iter=2000, C=0.1).fit(x_train, y_train), x_test


def _verdict(classifier, images):
  probs = classifier.predict_proba(images.reshape(len(images), -1))
  shares = np.bincount(probs.argmax(1), minlength=10) / len(images)
  return probs.max(1).mean(), shares


def _passes(confidence, shares):
  return confidence >= MIN_MEAN_CONFIDENCE and shares.min() >= MIN_CLASS_SHARE


@pytest.mark.slow
def test_default_run_draws_recognisable_digits_of_all_ten_classes(tmp_path):
  classifier, real_held_out = _judge()
  assert _passes(*_verdict(classifier, real_held_out))
  noise = np.random.default_rng(0).uniform(-1, 1, (1000, 64))
  assert not _passes(*_verdict(classifier, noise))

  workdir = str(tmp_path / "wgan_gp")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  # The README command, with the data prepared under tmp rather than ~/tensorflow_datasets.
  data = f"--config.dataset.data_dir={tmp_path / 'tfds'}"
  train = subprocess.run(
      [sys.executable, "launch.py", "--config=configs/wgan_gp.py", f"--workdir={workdir}",
       data], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert train.returncode == 0, train.stderr[-3000:]
  sample = subprocess.run(
      [sys.executable, "launch.py", "--config=configs/wgan_gp.py", f"--workdir={workdir}",
       data, "--mode=sample", "--config.log.num_samples=1000"], cwd=ROOT, env=env,
      capture_output=True, text=True, timeout=300)
  assert sample.returncode == 0, sample.stderr[-3000:]
  # The run evaluated itself ten times (log.eval_every) with the digits classifier.
  evals = sorted(os.listdir(os.path.join(workdir, "eval")))
  assert [f"step_{s:06d}.json" for s in range(1000, 10001, 1000)] == [
      e for e in evals if e.endswith(".json")]
  with open(os.path.join(workdir, "eval", "step_010000.json")) as f:
    result = json.load(f)
  raw, ref = result["generators"]["raw"], result["real_data_reference"]
  print(f"eval at 10000: {raw}; real data: {ref}")
  assert raw["classes_covered"] == 10 and raw["class_kl"] < 0.1, raw
  # Uniform noise scores an FD far above this bound with this classifier, real training
  # data far below it (the run's real_data_reference).
  assert raw["fd_digits_classifier"] < 100, raw
  # Sampling with another count writes beside the training-time grid, never over it.
  assert np.load(os.path.join(workdir, "samples", "step_010000.npy")).shape[0] == 100
  samples = np.load(os.path.join(workdir, "samples", "step_010000_n1000.npy"))
  assert samples.shape == (1000, 8, 8, 1)
  confidence, shares = _verdict(classifier, samples)
  print(f"mean confidence {confidence:.3f}; class shares {np.round(shares, 3)}")
  assert confidence >= MIN_MEAN_CONFIDENCE, confidence
  assert shares.min() >= MIN_CLASS_SHARE, shares
