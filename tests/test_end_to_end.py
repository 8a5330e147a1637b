"""End to end through launch.py: train -> checkpoint -> resume -> sample, and bad
input answered with one line before anything is compiled or overwritten."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import wgan_gp
from jaxgan import loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = "--config=configs/wgan_gp.py:dataset=8gaussians"
SMALL = ["--config.model.hidden=(32,32)", "--config.log.every=5",
         "--config.log.checkpoint_every=10", "--config.log.sample_every=10"]


def launch(*args, timeout=300):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)


def _error_lines(result):
  return [l for l in result.stderr.splitlines() if l.startswith("error:")]


def _steps(workdir):
  """Steps of the training records (evaluation records, eval/..., are separate lines)."""
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r["step"] for r in map(json.loads, f) if "critic/loss" in r]


def _snapshot(directory):
  """(relative path, size, mtime) of every file under `directory`."""
  out = []
  for base, _, files in os.walk(directory):
    for name in files:
      st = os.stat(os.path.join(base, name))
      out.append((os.path.relpath(os.path.join(base, name), directory), st.st_size,
                  st.st_mtime_ns))
  return sorted(out)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
  """A 20-step run, then the same command with num_steps=30 (a resume)."""
  workdir = str(tmp_path_factory.mktemp("e2e") / "run")
  first = launch(TOY, f"--workdir={workdir}", *SMALL, "--config.train.num_steps=20")
  assert first.returncode == 0, first.stderr[-3000:]
  second = launch(TOY, f"--workdir={workdir}", *SMALL, "--config.train.num_steps=30")
  assert second.returncode == 0, second.stderr[-3000:]
  return workdir, first, second


@pytest.mark.slow
def test_training_leaves_config_checkpoints_samples_and_metrics(toy_run):
  workdir, first, _ = toy_run
  with open(os.path.join(workdir, "config.json")) as f:
    config = json.load(f)
  assert config["penalty"]["name"] == "wgan_gp" and config["dataset"]["name"] == "8gaussians"
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["10", "20", "30"]
  samples = os.listdir(os.path.join(workdir, "samples"))
  for step in (10, 20, 30):
    assert f"step_{step:06d}.png" in samples and f"step_{step:06d}.npy" in samples
  assert np.load(os.path.join(workdir, "samples", "step_000030.npy")).shape == (100, 2)
  assert "step 20/20" in first.stdout and "steps/s" in first.stdout and "ETA" in first.stdout


@pytest.mark.slow
def test_rerunning_train_resumes_from_the_latest_checkpoint(toy_run):
  workdir, _, second = toy_run
  assert "resumed from step 20" in second.stdout
  assert "from step 20" in second.stdout and "step 30/30" in second.stdout
  steps = _steps(workdir)
  assert steps == [5, 10, 15, 20, 25, 30]


@pytest.mark.slow
def test_sample_mode_restores_latest_or_given_step_without_training(toy_run):
  workdir, _, _ = toy_run
  ckpts = _snapshot(os.path.join(workdir, "checkpoints"))
  samples_dir = os.path.join(workdir, "samples")
  for name in os.listdir(samples_dir):
    os.remove(os.path.join(samples_dir, name))
  latest = launch(TOY, f"--workdir={workdir}", *SMALL, "--mode=sample")
  assert latest.returncode == 0, latest.stderr[-2000:]
  assert "step 30 (raw generator): wrote" in latest.stdout
  given = launch(TOY, f"--workdir={workdir}", *SMALL, "--mode=sample", "--step=20")
  assert given.returncode == 0, given.stderr[-2000:]
  assert sorted(os.listdir(samples_dir)) == [
      "step_000020.npy", "step_000020.png", "step_000030.npy", "step_000030.png"]
  # The fixed latent batch: sampling the same step twice gives the same samples.
  a = np.load(os.path.join(samples_dir, "step_000030.npy"))
  launch(TOY, f"--workdir={workdir}", *SMALL, "--mode=sample")
  np.testing.assert_array_equal(a, np.load(os.path.join(samples_dir, "step_000030.npy")))
  assert _snapshot(os.path.join(workdir, "checkpoints")) == ckpts
  assert _steps(workdir) == [5, 10, 15, 20, 25, 30]  # sampling logs no training steps


@pytest.mark.slow
def test_sample_of_a_missing_step_names_the_step_and_the_available_ones(toy_run):
  workdir, _, _ = toy_run
  result = launch(TOY, f"--workdir={workdir}", *SMALL, "--mode=sample", "--step=7")
  assert result.returncode == 2
  (line,) = _error_lines(result)
  assert "no checkpoint for step 7" in line and "10, 20, 30" in line
  assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("args,message", [
    (["--config.loss.name=wgan"], "unknown loss.name 'wgan'; allowed: wasserstein"),
    (["--config.penalty.name=gp"], "unknown penalty.name 'gp'; allowed: none, wgan_gp, dragan"),
    (["--config.dataset.name=imagenet"], "unknown dataset.name 'imagenet'; allowed: digits"),
    (["--config.model.arch=vit"], "unknown model.arch 'vit'; allowed: mlp, dcgan, resnet"),
    (["--config.train.n_critic=0"], "train.n_critic must be >= 1, got 0"),
    (["--config.train.n_critc=3"], "unknown config key in --config.train.n_critc=3"),
    (["--config.model.arch=dcgan", "--config.dataset.name=digits",
      "--config.dataset.image_size=12"], "cannot build images of size 12x12; allowed square"),
])
def test_bad_input_is_one_line_exit_2_and_leaves_the_run_untouched(toy_run, args, message):
  workdir, _, _ = toy_run
  before = _snapshot(workdir)
  result = launch(TOY, f"--workdir={workdir}", *SMALL, *args, timeout=120)
  assert result.returncode == 2, result.stderr[-2000:]
  (line,) = _error_lines(result)
  assert message in line
  assert "Traceback" not in result.stderr
  assert _snapshot(workdir) == before


@pytest.mark.slow
def test_bad_variant_is_rejected_at_flag_parsing(tmp_path):
  result = launch("--config=configs/wgan_gp.py:dataset=mnst", f"--workdir={tmp_path}/r")
  assert result.returncode == 2
  (line,) = _error_lines(result)
  assert "unknown dataset 'mnst'; allowed: digits, mnist" in line
  assert not os.path.exists(f"{tmp_path}/r")


@pytest.mark.slow
def test_sample_mode_on_an_empty_workdir_says_train_first(tmp_path):
  result = launch(TOY, f"--workdir={tmp_path}/empty", "--mode=sample")
  assert result.returncode == 2
  (line,) = _error_lines(result)
  assert "empty does not exist; train first" in line


# --- In process -----------------------------------------------------------------


def _toy_config(num_steps):
  config = wgan_gp.get_config("dataset=25gaussians")
  config.model.hidden = (32, 32)
  config.train.batch_size = 16
  config.train.num_steps = num_steps
  config.log.every = 1
  config.log.checkpoint_every = 3
  config.log.sample_every = 100
  return config


def test_resumed_run_is_bitwise_identical_to_an_uninterrupted_one(tmp_path):
  def config(num_steps):
    # Extending a run (3 -> 6 steps) reproduces the straight run under a constant
    # learning rate; the toy recipe's linear decay is sized by num_steps, so it would
    # be re-sized (and warned about). Resuming a linear-schedule run without changing
    # its length: the SIGKILL test in test_reliability.py.
    c = _toy_config(num_steps)
    c.optimizer.critic.schedule = c.optimizer.generator.schedule = "constant"
    return c

  straight = loop.train_and_evaluate(config(6), str(tmp_path / "straight"))
  loop.train_and_evaluate(config(3), str(tmp_path / "split"))
  resumed = loop.train_and_evaluate(config(6), str(tmp_path / "split"))
  assert int(resumed.step) == int(straight.step) == 6
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert _steps(str(tmp_path / "split")) == [1, 2, 3, 4, 5, 6]


def test_digits_run_goes_through_the_local_tfds_builder(tmp_path):
  config = wgan_gp.get_config()  # the default: digits
  config.dataset.data_dir = str(tmp_path / "tfds")
  config.model.hidden = (32, 32)
  config.train.num_steps = 2
  config.log.every = 1
  state = loop.train_and_evaluate(config, str(tmp_path / "run"))
  assert int(state.step) == 2
  assert os.path.isdir(tmp_path / "tfds" / "digits")  # real TFRecords were prepared
  samples = np.load(tmp_path / "run" / "samples" / "step_000002.npy")
  assert samples.shape == (100, 8, 8, 1) and samples.min() >= -1 and samples.max() <= 1
