"""Evaluation: toy metrics on constructed samples, the evaluator on a tiny trained run
(JSON, plots, metrics.jsonl, TensorBoard), raw and EMA side by side, and --mode=eval."""

import glob
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from configs import wgan_gp
from jaxgan.eval import evaluator
from jaxgan.eval import plots
from jaxgan.eval import toy as toy_eval
from jaxgan import errors
from jaxgan import validation
from jaxgan import loop
from jaxgan import restore
from jaxgan.data import toy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY_KW = dict(hq_sigmas=3.0, strict_fraction=0.01, num_projections=200, mmd_bandwidths=(),
              seed=0)


def _real(name, n, seed=1):
  return toy.sample(name, np.random.default_rng(seed), n)


# --- toy_metrics on samples with known answers -------------------------------------


def test_samples_at_every_25gaussians_mode_cover_25_with_all_high_quality():
  samples = np.repeat(toy.modes("25gaussians"), 100, axis=0)
  out = toy_eval.toy_metrics("25gaussians", samples, _real("25gaussians", 2500), **TOY_KW)
  assert (out["modes_covered"], out["modes_covered_strict"]) == (25, 25)
  assert out["hq_percent"] == 100.0 and out["mode_kl"] == pytest.approx(0.0, abs=1e-12)


def test_samples_collapsed_on_one_ring_mode_cover_one_with_kl_log_8():
  samples = np.repeat(toy.modes("8gaussians")[:1], 2500, axis=0)
  out = toy_eval.toy_metrics("8gaussians", samples, _real("8gaussians", 2500), **TOY_KW)
  assert out["modes_covered"] == 1 and out["hq_percent"] == 100.0
  assert out["mode_kl"] == pytest.approx(np.log(8))
  # The distance sees the collapse that HQ% cannot.
  fresh = toy_eval.toy_metrics("8gaussians", _real("8gaussians", 2500, seed=2),
                               _real("8gaussians", 2500), **TOY_KW)
  assert out["sliced_wasserstein"] > 5 * fresh["sliced_wasserstein"]


def test_points_between_modes_are_not_high_quality_and_cover_nothing():
  centres = toy.modes("25gaussians")
  samples = (centres[:-1] + centres[1:]) / 2  # midpoints of grid neighbours
  out = toy_eval.toy_metrics("25gaussians", samples, _real("25gaussians", 500), **TOY_KW)
  assert out["modes_covered"] == 0 and out["hq_percent"] == 0.0
  assert out["mode_kl"] == float("inf")


def test_real_data_scores_like_the_3_sigma_gaussian_mass_in_2d():
  # P(|N(0, s^2 I_2)| <= 3 s) = 1 - exp(-4.5) = 98.89%: what a perfect generator gets.
  out = toy_eval.toy_metrics("25gaussians", _real("25gaussians", 20000, seed=3),
                             _real("25gaussians", 2500), **TOY_KW)
  assert out["modes_covered"] == 25
  assert out["hq_percent"] == pytest.approx(100 * (1 - np.exp(-4.5)), abs=0.3)


def test_swissroll_has_distances_but_no_mode_metrics():
  out = toy_eval.toy_metrics("swissroll", _real("swissroll", 500, seed=2),
                             _real("swissroll", 500), **dict(TOY_KW, mmd_bandwidths=(0.2,)))
  assert "modes_covered" not in out
  assert out["sliced_wasserstein"] > 0 and "mmd_rbf" in out


def test_bad_eval_values_are_one_config_error_naming_the_key():
  for key, value, message in [("num_samples", 1, "eval.num_samples must be >= 2, got 1"),
                              ("strict_fraction", 1.5, "eval.strict_fraction must be in"),
                              ("mmd_bandwidths", (0.1, -1.0), "eval.mmd_bandwidths must")]:
    config = wgan_gp.get_config("dataset=8gaussians")
    config.eval[key] = value
    with pytest.raises(errors.ConfigError, match=message):
      validation.validate(config)


# --- The evaluator on a tiny trained run ---------------------------------------------


def _tiny_toy_config(**eval_overrides):
  config = wgan_gp.get_config("dataset=8gaussians")
  config.model.hidden = (32, 32)
  config.train.batch_size = 32
  config.train.num_steps = 6
  config.log.every = 1
  config.log.sample_every = 3
  config.log.checkpoint_every = 3
  config.log.eval_every = 3
  config.eval.num_samples = 500
  config.eval.num_projections = 100
  for key, value in eval_overrides.items():
    setattr(config.eval, key, value)
  return config


def _records(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def _tensorboard_tags(workdir):
  """{tag: [steps]} read from the TensorBoard event files (TFRecord-framed Events)."""
  from tensorboardX.proto import event_pb2
  tags = {}
  for path in glob.glob(os.path.join(workdir, "events.out.tfevents.*")):
    with open(path, "rb") as f:
      data = f.read()
    offset = 0
    while offset < len(data):
      (length,) = struct.unpack("<Q", data[offset:offset + 8])
      event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
      offset += 12 + length + 4
      for value in event.summary.value:
        tags.setdefault(value.tag, []).append(event.step)
  return tags


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("eval") / "run")
  config = _tiny_toy_config()
  config.ema.enabled = True
  loop.train_and_evaluate(config, workdir)
  return config, workdir


def test_training_with_eval_every_writes_json_plots_and_eval_lines(toy_run):
  config, workdir = toy_run
  for step in (3, 6):
    with open(os.path.join(workdir, "eval", f"step_{step:06d}.json")) as f:
      result = json.load(f)
    assert result["step"] == step and result["num_samples"] == 500
    raw = result["generators"]["raw"]
    assert raw["num_modes"] == 8 and 0 <= raw["modes_covered"] <= 8
    assert raw["sliced_wasserstein"] > 0
    for path in result["plots"]:
      assert os.path.getsize(path) > 1000 and path.endswith(".png")
  assert os.path.exists(os.path.join(workdir, "eval", "step_000006_critic.png"))
  assert os.path.exists(os.path.join(workdir, "eval", "losses.png"))
  records = _records(workdir)
  train_steps = [r["step"] for r in records if "critic/loss" in r]
  eval_records = [r for r in records if "eval/raw/modes_covered" in r]
  assert train_steps == [1, 2, 3, 4, 5, 6]
  assert [r["step"] for r in eval_records] == [3, 6]
  assert all(set(r) - {"step"} <= {k for k in r if k.startswith("eval/")}
             for r in eval_records)


def test_real_data_reference_is_near_perfect_and_beats_the_barely_trained_generator(toy_run):
  _, workdir = toy_run
  with open(os.path.join(workdir, "eval", "step_000006.json")) as f:
    result = json.load(f)
  ref = result["real_data_reference"]
  assert ref["modes_covered"] == 8 and ref["hq_percent"] > 97
  assert ref["sliced_wasserstein"] < result["generators"]["raw"]["sliced_wasserstein"]


def test_ema_generator_is_reported_beside_the_raw_one(toy_run):
  _, workdir = toy_run
  with open(os.path.join(workdir, "eval", "step_000006.json")) as f:
    result = json.load(f)
  assert set(result["generators"]) == {"raw", "ema"}
  # Each result says how its generators were run (the toy MLP has no BatchNorm).
  assert result["sampling"] == {
      label: {"weights": weights, "batch_norm": "none (no BatchNorm)",
              "pixel_scaling": "closed"} for label, weights in (("raw", "raw"),
                                                                  ("ema", "EMA"))}
  assert os.path.exists(os.path.join(workdir, "eval", "step_000006_ema_critic.png"))
  assert os.path.exists(os.path.join(workdir, "samples", "step_000006_ema.png"))
  # The EMA (decay 0.999) lags the weights, so after six steps its samples differ.
  assert result["generators"]["raw"] != result["generators"]["ema"]


def test_tensorboard_events_hold_the_same_scalars_and_the_sample_images(toy_run):
  _, workdir = toy_run
  tags = _tensorboard_tags(workdir)
  assert tags["critic/loss"] == [1, 2, 3, 4, 5, 6]
  assert tags["critic/penalty"] == [1, 2, 3, 4, 5, 6]
  assert tags["eval/raw/hq_percent"] == [3, 6] and tags["eval/ema/hq_percent"] == [3, 6]
  assert tags["samples/raw"] == [3, 6] and tags["samples/ema"] == [3, 6]
  jsonl = {r["step"]: r["critic/loss"] for r in _records(workdir) if "critic/loss" in r}
  assert sorted(jsonl) == tags["critic/loss"]


def test_evaluating_a_checkpoint_twice_gives_the_same_numbers(toy_run):
  config, workdir = toy_run
  with open(os.path.join(workdir, "eval", "step_000003.json")) as f:
    during_training = json.load(f)
  first = restore.evaluate_from_checkpoint(config, workdir, 3)
  second = restore.evaluate_from_checkpoint(config, workdir, 3)
  assert first["generators"] == second["generators"]
  # The evaluation during training saw the same state: same numbers.
  assert during_training["generators"] == first["generators"]


def test_losses_plot_has_nothing_to_draw_without_training_lines(tmp_path):
  assert not plots.plot_losses([{"step": 3, "eval/raw/hq_percent": 1.0}],
                                  str(tmp_path / "l.png"), penalty_weight=0.1)
  assert not os.path.exists(tmp_path / "l.png")


# --- --mode=eval through launch.py --------------------------------------------------


def _launch(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)


SMALL = ["--config=configs/wgan_gp.py:dataset=25gaussians", "--config.model.hidden=(32,32)",
         "--config.train.batch_size=32", "--config.eval.num_samples=400",
         "--config.eval.num_projections=50", "--config.log.checkpoint_every=2"]


@pytest.mark.slow
def test_eval_mode_restores_a_checkpoint_writes_json_and_prints_a_summary(tmp_path):
  workdir = str(tmp_path / "run")
  train = _launch(*SMALL, f"--workdir={workdir}", "--config.train.num_steps=4")
  assert train.returncode == 0, train.stderr[-2000:]
  ckpts = sorted(os.listdir(os.path.join(workdir, "checkpoints")))
  result = _launch(*SMALL, f"--workdir={workdir}", "--mode=eval", "--step=2")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "step 2: raw: " in result.stdout and "/25 modes" in result.stdout
  with open(os.path.join(workdir, "eval", "step_000002.json")) as f:
    assert json.load(f)["generators"]["raw"]["num_modes"] == 25
  assert os.path.exists(os.path.join(workdir, "eval", "step_000002_critic.png"))
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ckpts
  missing = _launch(*SMALL, f"--workdir={workdir}", "--mode=eval", "--step=3")
  assert missing.returncode == 2
  errors = [l for l in missing.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and "no checkpoint for step 3" in errors[0]
  assert "Traceback" not in missing.stderr


@pytest.mark.slow
def test_digits_evaluation_reports_classifier_metrics_with_a_near_perfect_real_reference(
    tmp_path):
  config = wgan_gp.get_config()  # digits
  config.dataset.data_dir = str(tmp_path / "tfds")
  config.model.hidden = (32, 32)
  config.train.num_steps = 2
  config.log.every = 1
  config.log.eval_every = 2
  config.eval.num_samples = 300
  config.eval.kid_subsets = 10
  loop.train_and_evaluate(config, str(tmp_path / "run"))
  with open(tmp_path / "run" / "eval" / "step_000002.json") as f:
    result = json.load(f)
  assert result["feature_extractor"] == "digits classifier"
  trusted = result["classifier"]  # recorded in every evaluation; digits' is far above 0.5
  assert trusted["test_accuracy"] > 0.9 and trusted["floor"] == 0.5
  assert "untrustworthy" not in trusted
  ref, raw = result["real_data_reference"], result["generators"]["raw"]
  assert ref["classes_covered"] == 10 and ref["mean_max_prob"] > 0.95
  assert ref["class_kl"] < 0.05
  # Two steps of training: far from the data by every measure.
  fd = "fd_digits_classifier"
  assert raw[fd] > 5 * ref[fd]
  assert raw["kid_digits_classifier"] > ref["kid_digits_classifier"]
  assert os.path.exists(tmp_path / "run" / "eval" / "step_000002_samples.png")
  # The classifier is cached beside the data, for every later run on digits.
  cached = os.listdir(tmp_path / "tfds" / "jaxgan_classifiers")
  assert any(name.endswith(".npz") for name in cached)


def test_the_summary_line_explains_strict_and_keeps_the_decimals():
  result = {"strict_fraction": 0.01, "generators": {"raw": {
      "modes_covered": 8, "num_modes": 8, "modes_covered_strict": 0, "hq_percent": 3.7,
      "sliced_wasserstein": 0.5, "fd_x": 20.9996, "kid_x": 0.01234}}}
  line = evaluator.summary_line(result)
  assert "8/8 modes (0 strict, i.e. with >= 1% of the samples), 3.7% HQ" in line
  assert "fd_x 21.00" in line and "kid_x 0.01234" in line  # never a bare "21"
  assert "UNTRUSTWORTHY" not in line
  result["classifier"] = {"untrustworthy": "below its floor"}
  assert line + "; CLASSIFIER METRICS UNTRUSTWORTHY: below its floor" == (
      evaluator.summary_line(result))
