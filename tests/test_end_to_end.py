"""End to end through launch.py: train -> checkpoint -> resume -> sample, and bad
input answered with one line before anything is compiled or overwritten."""

import json
import os
import shutil
import signal
import subprocess
import sys

import jax
import numpy as np
from PIL import Image
import pytest

from configs import sngan
from configs import wgan_gp
from jaxgan import config_io
from jaxgan import loop
from jaxgan import restore
from launcher import ROOT
from launcher import launch
TOY = "--config=configs/wgan_gp.py:dataset=8gaussians"
SMALL = ["--config.model.hidden=(32,32)", "--config.log.every=5",
         "--config.log.checkpoint_every=10", "--config.log.sample_every=10"]


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
    # Extending a run (3 -> 6 steps) keeps the toy recipe's linear decay on its
    # course when its horizon is set apart from the run's length.
    c = _toy_config(num_steps)
    assert c.optimizer.critic.schedule == "linear"
    c.optimizer.decay_steps = 6
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


# --- What a user meets ---------------------------------------------------------------


@pytest.mark.slow
def test_the_start_up_line_names_data_shape_model_and_parameter_counts(toy_run):
  _, first, _ = toy_run
  line = next(l for l in first.stdout.splitlines() if " training: " in l)
  assert "wasserstein/wgan_gp on 8gaussians (2-D points)" in line
  assert "mlp generator 1,218 params, critic 1,185 params" in line  # (32, 32) MLPs
  assert "batch 256, n_critic 5" in line and "steps 1-20" in line


@pytest.mark.slow
def test_sample_and_eval_need_only_the_workdir_and_print_no_training_warnings(toy_run):
  workdir, _, _ = toy_run
  sample = launch(f"--workdir={workdir}", "--mode=sample", "--step=20")
  assert sample.returncode == 0, sample.stderr[-2000:]
  assert "step 20 (raw generator): wrote" in sample.stdout
  assert "WARNING" not in sample.stdout + sample.stderr
  evaluated = launch(f"--workdir={workdir}", "--mode=eval", "--step=20")
  assert evaluated.returncode == 0, evaluated.stderr[-2000:]
  assert "step 20: raw: " in evaluated.stdout and "modes" in evaluated.stdout
  # Settings that cannot change what the checkpoint means may be overridden ...
  more = launch(f"--workdir={workdir}", "--mode=sample", "--config.log.num_samples=7")
  assert more.returncode == 0, more.stderr[-2000:]
  assert np.load(os.path.join(workdir, "samples", "step_000030_n7.npy")).shape == (7, 2)
  # ... the others not.
  bad = launch(f"--workdir={workdir}", "--mode=sample", "--config.model.z_dim=3")
  assert bad.returncode == 2
  (line,) = _error_lines(bad)
  assert "--config.model.z_dim would change what the checkpoint means" in line


@pytest.mark.slow
def test_eval_mode_joins_the_records_in_step_order_marked_as_later(toy_run):
  workdir, _, _ = toy_run
  result = launch(f"--workdir={workdir}", "--mode=eval", "--step=10")
  assert result.returncode == 0, result.stderr[-2000:]
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  later = [r for r in records if r.get("evaluated_later") and r["step"] == 10]
  assert len(later) == 1 and "eval/raw/modes_covered" in later[0]
  assert [r["step"] for r in records] == sorted(r["step"] for r in records)
  assert _steps(workdir) == [5, 10, 15, 20, 25, 30]  # training lines untouched


@pytest.mark.slow
def test_rerunning_a_finished_run_writes_nothing(toy_run):
  workdir, _, _ = toy_run
  before = _snapshot(workdir)
  again = launch(TOY, f"--workdir={workdir}", *SMALL, "--config.train.num_steps=30")
  assert again.returncode == 0, again.stderr[-2000:]
  assert "is complete (step 30 of train.num_steps=30)" in again.stdout
  assert _snapshot(workdir) == before


@pytest.mark.slow
@pytest.mark.parametrize("problem", ["missing folder", "empty folder"])
def test_a_start_that_fails_leaves_nothing_and_the_fixed_command_runs(tmp_path, problem):
  workdir = tmp_path / "run"
  photos = tmp_path / "photos"
  if problem == "empty folder":
    photos.mkdir()
  folder = ["--config=configs/wgan_gp.py:dataset=folder", f"--workdir={workdir}",
            "--config.dataset.image_size=8", "--config.model.width=4",
            "--config.train.batch_size=4", "--config.train.num_steps=2",
            "--config.log.eval_every=0"]
  failed = launch(*folder, f"--config.dataset.path={photos}")
  assert failed.returncode == 2
  (line,) = _error_lines(failed)
  assert str(photos) in line and "Traceback" not in failed.stderr
  assert not os.path.exists(workdir / "config.json")
  assert not os.path.exists(workdir / "checkpoints")
  # The corrected command is not refused as "a run with a different config".
  good = tmp_path / "good"
  for i in range(4):
    (good / "a").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(good / "a" / f"{i}.png")
  fixed = launch(*folder, f"--config.dataset.path={good}")
  assert fixed.returncode == 0, fixed.stderr[-2000:]


@pytest.mark.slow
def test_ctrl_c_during_start_up_is_one_line_exit_130_and_writes_nothing(tmp_path):
  workdir = tmp_path / "run"
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")
  proc = subprocess.Popen(
      [sys.executable, "launch.py", "--config=configs/wgan_gp.py", f"--workdir={workdir}",
       f"--config.dataset.data_dir={tmp_path / 'tfds'}"], cwd=ROOT, env=env,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    first = proc.stdout.readline()  # the process line: start-up has begun
    assert "process 0 of 1" in first, first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 130, (out, err)
  assert err.strip().splitlines() == ["interrupted; checkpoints already saved are kept"]
  assert not os.path.exists(workdir / "config.json")


def _read_only_mount(path):
  """Remounts `path` read-only (a bind mount; needs root), or None if not permitted."""
  if os.geteuid() != 0 or not shutil.which("mount"):
    return None
  ok = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True)
  if ok.returncode:
    return None
  ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], capture_output=True)
  if ro.returncode:
    subprocess.run(["umount", str(path)])
    return None
  return lambda: subprocess.run(["umount", str(path)], check=True)


@pytest.mark.slow
def test_unusable_workdirs_are_one_line_exit_2(toy_run, tmp_path):
  afile = tmp_path / "afile"
  afile.write_text("x")
  for mode in ("train", "sample"):
    result = launch(TOY, f"--workdir={afile}", f"--mode={mode}", *SMALL)
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = _error_lines(result)
    assert str(afile) in line and "is a file" in line
  workdir, _, _ = toy_run
  copy = tmp_path / "readonly"
  shutil.copytree(workdir, copy)
  unmount = _read_only_mount(copy)
  if unmount is None:
    pytest.skip("needs root to mount a read-only file system")
  try:
    for args in (["--config.train.num_steps=40"], ["--mode=sample"]):
      result = launch(TOY, f"--workdir={copy}", *SMALL, *args)
      assert result.returncode == 2, result.stderr[-2000:]
      (line,) = _error_lines(result)
      assert str(copy) in line and "read-only" in line, line
  finally:
    unmount()


# --- Class-conditional ------------------------------------------------------------


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
  """A 6-step AC-GAN digits run through launch.py, evaluated at its last step."""
  base = tmp_path_factory.mktemp("conditional")
  workdir = str(base / "run")
  args = ["--config=configs/wgan_gp.py:conditional=acgan", f"--workdir={workdir}",
          f"--config.dataset.data_dir={base / 'tfds'}", "--config.model.hidden=(32,32)",
          "--config.log.every=3", "--config.log.checkpoint_every=3",
          "--config.log.sample_every=3", "--config.log.eval_every=6",
          "--config.eval.num_samples=300", "--config.eval.kid_subsets=5"]
  result = launch(*args, "--config.train.num_steps=6")
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir, args, result


@pytest.mark.slow
def test_conditional_run_keeps_its_classes_draws_a_row_per_class_and_scores_them(
    conditional_run):
  workdir, _, result = conditional_run
  with open(os.path.join(workdir, "classes.json")) as f:
    assert json.load(f)["class_names"] == [str(k) for k in range(10)]
  samples = np.load(os.path.join(workdir, "samples", "step_000006.npy"))
  labels = np.load(os.path.join(workdir, "samples", "step_000006_labels.npy"))
  assert samples.shape == (100, 8, 8, 1)
  np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 10))
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  assert all("critic/acgan_accuracy_real" in r for r in records if "critic/loss" in r)
  assert "acc real" in result.stdout and "requested class" in result.stdout
  with open(os.path.join(workdir, "eval", "step_000006.json")) as f:
    evaluation = json.load(f)
  assert evaluation["class_names"] == [str(k) for k in range(10)]
  raw, ref = evaluation["generators"]["raw"], evaluation["real_data_reference"]
  for values in (raw, ref):
    assert {"requested_class_accuracy", "requested_class_accuracy_min",
            "requested_class_accuracy_class9", "intra_fd_digits_classifier",
            "intra_fd_digits_classifier_class0"} <= set(values)
  # Real digits under their own labels: the classifier's accuracy; six steps of
  # training: far below it, in accuracy and in the per-class distances.
  assert ref["requested_class_accuracy"] > 0.95
  assert raw["requested_class_accuracy"] < ref["requested_class_accuracy"] - 0.3
  assert raw["intra_fd_digits_classifier"] > 2 * ref["intra_fd_digits_classifier"]


@pytest.mark.slow
def test_sampling_one_class_of_a_conditional_run_and_a_bad_class_is_one_line(
    conditional_run, toy_run):
  workdir, args, _ = conditional_run
  result = launch(*args, "--mode=sample", "--class=3")
  assert result.returncode == 0, result.stderr[-2000:]
  stem = os.path.join(workdir, "samples", "step_000006_class3")
  assert os.path.exists(stem + ".png") and f"wrote {stem}.png" in result.stdout
  np.testing.assert_array_equal(np.load(stem + "_labels.npy"), np.full(100, 3))
  grid = np.load(os.path.join(workdir, "samples", "step_000006.npy"))
  # Column 0 of row 3 of the grid is the first fixed latent under class 3: the same image.
  np.testing.assert_allclose(np.load(stem + ".npy")[0], grid[30], rtol=1e-6, atol=1e-6)
  result = launch(*args, "--mode=sample", "--class=10")
  assert result.returncode == 2
  assert "--class=10 is not a class of this run: it has classes 0..9" in _error_lines(result)[0]
  toy_workdir, _, _ = toy_run
  result = launch(f"--workdir={toy_workdir}", "--mode=sample", "--class=0")
  assert result.returncode == 2
  assert "it is unconditional (model.conditional='none')" in _error_lines(result)[0]


@pytest.mark.slow  # three compilations and the digits data
def test_a_resumed_conditional_run_is_bitwise_identical_to_an_uninterrupted_one(tmp_path):
  def config(num_steps):
    c = wgan_gp.get_config("conditional=projection")  # digits, 10 classes
    c.dataset.data_dir = str(tmp_path / "tfds")
    c.model.hidden = (16, 16)
    c.train.batch_size = 16
    c.train.num_steps = num_steps
    c.log.every = c.log.checkpoint_every = 1
    c.log.sample_every, c.log.eval_every = 100, 0
    return c

  straight = loop.train_and_evaluate(config(4), str(tmp_path / "straight"))
  loop.train_and_evaluate(config(2), str(tmp_path / "split"))
  resumed = loop.train_and_evaluate(config(4), str(tmp_path / "split"))
  assert int(resumed.step) == 4
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.slow
def test_a_run_from_before_the_mesh_step_samples_evaluates_and_resumes_as_if_never_stopped(
    tmp_path):
  # tests/data/pmap_era_run: 2 steps written by the pmap-era jaxgan (tests/data/README.md).
  old = str(tmp_path / "old")
  shutil.copytree(os.path.join(ROOT, "tests", "data", "pmap_era_run"), old)
  its_config = str(tmp_path / "config.json")
  shutil.copy(os.path.join(old, "config.json"), its_config)

  sampled = launch("--mode=sample", f"--workdir={old}")
  assert sampled.returncode == 0, sampled.stderr
  assert np.load(os.path.join(old, "samples", "step_000002.npy")).shape == (4, 2)
  assert sampled.stdout.count("predates") == 1  # one short line, not a wall of keys
  evaluated = launch("--mode=eval", f"--workdir={old}")
  assert evaluated.returncode == 0, evaluated.stderr
  assert "sliced_wasserstein" in evaluated.stdout

  # Resumed to step 4 with its own config.json: the same as 4 steps from scratch now.
  more = ["--config.train.num_steps=4"]
  resumed = launch(f"--config={its_config}", *more, f"--workdir={old}")
  assert resumed.returncode == 0, resumed.stderr + resumed.stdout
  assert "resumed from step 2" in resumed.stdout
  fresh = str(tmp_path / "fresh")
  assert launch(f"--config={its_config}", *more, f"--workdir={fresh}").returncode == 0

  def last_record(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      (record,) = [r for r in map(json.loads, f) if r["step"] == 4 and "critic/loss" in r]
    return {k: v for k, v in record.items() if not k.startswith("perf/")}

  assert last_record(old) == last_record(fresh)
  np.testing.assert_array_equal(np.load(os.path.join(old, "samples", "step_000004.npy")),
                                np.load(os.path.join(fresh, "samples", "step_000004.npy")))


@pytest.mark.slow
def test_a_run_from_before_the_fidelity_options_samples_and_resumes_as_the_old_code_did(
    tmp_path):
  # tests/data/pre_fidelity_run: SNGAN on digits (a BatchNorm generator, a spectrally
  # normalised critic) stopped at step 2 of 4 by the jaxgan that averaged the biased
  # batch variance and advanced u once per critic update; pre_fidelity_run_step4 holds
  # that jaxgan's step 4 of the same run uninterrupted (tests/data/README.md).
  old = str(tmp_path / "old")
  shutil.copytree(os.path.join(ROOT, "tests", "data", "pre_fidelity_run"), old)
  expected = os.path.join(ROOT, "tests", "data", "pre_fidelity_run_step4")
  config = config_io.load_json(os.path.join(old, "config.json"), log_upgrade=False)
  assert (config.model.bn_running_var, config.model.spectral_norm_iteration,
          config.model.sample_bn_stats, config.dataset.pixel_scaling) == (
              "biased", "per_update", "running", "closed")
  recipe = sngan.get_config("dataset=digits")  # a new run of the recipe differs
  assert (recipe.model.bn_running_var, recipe.model.spectral_norm_iteration) == (
      "unbiased", "per_call")

  grid = os.path.join(old, "samples", "step_000002.npy")
  written_then = np.load(grid)
  restore.sample_from_checkpoint(config, old, 2)
  np.testing.assert_array_equal(np.load(grid), written_then)

  loop.train_and_evaluate(config, old)  # resumes at step 2
  np.testing.assert_array_equal(np.load(os.path.join(old, "samples", "step_000004.npy")),
                                np.load(os.path.join(expected, "step_000004.npy")))
  with open(os.path.join(old, "metrics.jsonl")) as f:
    (record,) = [r for r in map(json.loads, f) if r["step"] == 4 and "critic/loss" in r]
  with open(os.path.join(expected, "metrics_step4.json")) as f:
    assert {k: v for k, v in record.items() if not k.startswith("perf/")} == json.load(f)


def test_a_start_up_interrupt_that_library_code_swallowed_still_stops_before_training():
  from jaxgan import interrupt  # pylint: disable=g-import-not-at-top
  handler = interrupt.StartupInterrupt()
  previous = signal.signal(signal.SIGINT, handler)
  try:
    try:
      handler(signal.SIGINT, None)
    except KeyboardInterrupt:
      pass  # what a bare `except` in a library's start-up code would do
    with pytest.raises(KeyboardInterrupt):
      with loop.StopRequest():
        pytest.fail("training began after the interrupt")
    assert signal.getsignal(signal.SIGINT) is handler  # nothing left installed
  finally:
    signal.signal(signal.SIGINT, previous)
