"""Configs from the command line (ml_collections.config_flags): typed overrides of
every kind of key, one clear error per bad flag, a run's config.json as --config
(filled in from the base config inside the package, also when jaxgan is
installed), the warning when --config.dataset.name keeps another dataset's
recipe, and --help's recipe list."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from jaxgan import config_io
from jaxgan import errors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "configs", "wgan_gp.py")


def _load(spec, *overrides):
  return config_io.load(spec, [tuple(o.split("=", 1)) for o in overrides])


def test_overrides_are_parsed_by_the_type_of_the_key():
  config, warnings = _load(RECIPE + ":dataset=8gaussians", "train.n_critic=3",
                           "penalty.weight=0.5", "ema.enabled=true", "loss.name=hinge",
                           "model.hidden=(64,64)", "train.weight_clip=0.01",
                           "eval.mmd_bandwidths=0.1,1", "train.num_steps=100_000")
  assert config.train.n_critic == 3 and config.penalty.weight == 0.5
  assert config.ema.enabled is True and config.loss.name == "hinge"
  assert config.model.hidden == (64, 64) and config.train.weight_clip == 0.01
  assert config.eval.mmd_bandwidths == (0.1, 1) and config.train.num_steps == 100_000
  assert warnings == []


@pytest.mark.parametrize("flag,message", [
    ("train.n_critc=3", "unknown config key in --config.train.n_critc=3; did you mean "
                        "train.n_critic?"),
    ("train.n_critic=three", "flag --config.train.n_critic=three: expected an integer"),
    ("ema.enabled=maybe", "expected true or false"),
    ("model.hidden=[1,", "expected a tuple such as (256,256)"),
    ("loss=x", "--config.loss=x: a group of keys; set one of its keys"),
    ("train.weight_clip=off", "--config.train.weight_clip=off: expected a number or None"),
])
def test_a_bad_override_is_one_config_error_naming_the_flag(flag, message):
  with pytest.raises(errors.ConfigError, match=message.replace("(", r"\(").replace(
      ")", r"\)").replace("[", r"\[").replace("?", r"\?")):
    _load(RECIPE, flag)


def test_an_override_of_a_runs_own_config_names_a_misspelled_key():
  config, _ = _load(RECIPE + ":dataset=8gaussians")
  with pytest.raises(errors.ConfigError, match=r"--config.log.evry=3; did you mean log.every\?"):
    config_io.apply_overrides(config, [("log.evry", "3")])
  assert config_io.apply_overrides(config, [("log.every", "3")]).log.every == 3


def test_a_config_json_with_a_variant_or_a_missing_file_is_one_config_error(tmp_path):
  with pytest.raises(errors.ConfigError, match="a config.json takes no variant"):
    _load(str(tmp_path / "config.json") + ":dataset=mnist")
  with pytest.raises(errors.ConfigError, match="config file not found: .*nope.py"):
    _load(os.path.join(ROOT, "configs", "nope.py"))


def test_a_misspelled_or_misplaced_config_file_gets_a_did_you_mean(tmp_path, monkeypatch):
  with pytest.raises(errors.ConfigError,
                     match=r"config file not found: .*wgan_pg.py; did you mean "
                           r".*configs/wgan_gp.py\?"):
    _load(os.path.join(ROOT, "configs", "wgan_pg.py"))
  monkeypatch.chdir(tmp_path)  # the README's relative recipe path, from elsewhere
  with pytest.raises(errors.ConfigError) as e:
    _load("configs/wgan_gp.py")
  assert str(e.value) == (
      f"config file not found: configs/wgan_gp.py (relative to {tmp_path}); did you mean "
      f"{RECIPE}? Recipe paths are relative to the current directory")


def test_log_intervals_and_the_decay_horizon_follow_the_run_length_until_set():
  config, _ = _load(RECIPE + ":dataset=8gaussians", "train.num_steps=3000")
  # Evaluations: ten a run, but at least 1,000 steps apart (base_config.eval_interval).
  assert (config.log.every, config.log.checkpoint_every, config.log.eval_every) == (
      60, 300, 1000)
  assert config.optimizer.decay_steps == 3000
  config, _ = _load(RECIPE + ":dataset=8gaussians", "train.num_steps=3000",
                    "log.every=7", "optimizer.decay_steps=20000")
  assert config.log.every == 7 and config.log.sample_every == 300
  assert config.optimizer.decay_steps == 20000


def test_short_runs_evaluate_less_often_and_long_ones_ten_times():
  for steps, every in ((400, 400), (1500, 1000), (3000, 1000), (10_000, 1000),
                       (20_000, 2000), (100_000, 10_000)):
    config, _ = _load(RECIPE + ":dataset=8gaussians", f"train.num_steps={steps}")
    assert config.log.eval_every == every, steps
  config, _ = _load(RECIPE + ":dataset=8gaussians", "train.num_steps=400",
                    "log.eval_every=40")
  assert config.log.eval_every == 40  # set explicitly: kept


def test_a_runs_config_json_loads_as_the_config_it_was(tmp_path):
  config, _ = _load(RECIPE + ":dataset=25gaussians", "model.hidden=(32,32)")
  path = tmp_path / "config.json"
  path.write_text(json.dumps(config_io.to_json(config)))
  again, _ = _load(str(path), "train.n_critic=2")
  assert again.model.hidden == (32, 32) and again.train.n_critic == 2
  assert config_io.to_json(again) == dict(config_io.to_json(config),
                                          train=dict(config_io.to_json(config)["train"],
                                                     n_critic=2))


# The keys of the originals' behaviours, the value a run made before each existed gets,
# and the value the authors' recipes now set (the WGAN-GP ResNet, SNGAN).
_FIDELITY_KEYS = {
    "model.bn_running_var": ("biased", "unbiased"),
    "model.sample_bn_stats": ("running", "batch"),
    "model.spectral_norm_iteration": ("per_update", "per_call"),
    "dataset.pixel_scaling": ("closed", "half_open"),
}


@pytest.mark.parametrize("recipe,variant", [("wgan_gp", "dataset=cifar10,arch=resnet"),
                                            ("sngan", "dataset=cifar10")])
def test_a_config_json_from_before_the_fidelity_keys_keeps_the_old_behaviour(
    tmp_path, recipe, variant):
  config, _ = _load(os.path.join(ROOT, "configs", f"{recipe}.py") + ":" + variant)
  new = config_io.flatten(config_io.to_json(config))
  old = config_io.to_json(config)
  for key in _FIDELITY_KEYS:
    group, leaf = key.split(".")
    del old[group][leaf]
  path = tmp_path / "config.json"
  path.write_text(json.dumps(old))
  loaded = config_io.flatten(config_io.to_json(config_io.load_json(str(path))))
  for key, (before, authors) in _FIDELITY_KEYS.items():
    assert loaded[key] == before, key
  # The recipe itself moved to the authors' values (SNGAN keeps running statistics:
  # its Chainer code samples in test mode; the WGAN-GP ResNet has no spectral norm).
  moved = {k for k, (_, authors) in _FIDELITY_KEYS.items() if new[k] == authors}
  assert moved == ({"model.bn_running_var", "model.sample_bn_stats",
                    "dataset.pixel_scaling"} if recipe == "wgan_gp" else
                   {"model.bn_running_var", "model.spectral_norm_iteration",
                    "dataset.pixel_scaling"})


def test_override_flags_round_trip_every_kind_of_value():
  config, _ = _load(RECIPE + ":dataset=8gaussians")
  for key, value in [("model.hidden", (7,)), ("model.hidden", (3, 4)),
                     ("ema.enabled", True), ("train.weight_clip", 0.5),
                     ("train.weight_clip", None),
                     ("dataset.path", "/tmp/with space/x"), ("penalty.weight", 1e-3),
                     ("train.num_steps", 12)]:
    flag = config_io.override_flag(key, value)
    text = subprocess.run(["sh", "-c", f"printf '%s' {flag}"], capture_output=True,
                          text=True).stdout  # what a shell hands to launch.py
    config = config_io.apply_overrides(config, [text[len("--config."):].split("=", 1)])
    node, leaf = key.split(".")
    assert config[node][leaf] == value, (flag, config[node][leaf])


def test_overriding_the_dataset_name_warns_naming_the_variant_to_use():
  _, warnings = _load(RECIPE, "dataset.name=folder", "dataset.path=/x")
  (warning,) = warnings
  assert "dataset.image_size 8 (recipe: 32)" in warning  # a folder's CPU-sized default
  assert "model.arch 'mlp' (recipe: 'dcgan')" in warning
  assert warning.endswith(f"--config={RECIPE}:dataset=folder")
  _, none = _load(RECIPE + ":dataset=folder", "dataset.path=/x")
  assert none == []


@pytest.mark.slow
def test_help_lists_the_recipes_and_their_variants_and_exits_0():
  result = subprocess.run([sys.executable, "launch.py", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  for recipe in ("wgan", "wgan_gp", "dragan", "lsgan", "nsgan"):
    assert f"configs/{recipe}.py:" in result.stdout
  assert "dataset=digits" in result.stdout and "--workdir" in result.stdout
  assert "--config: Recipe" in result.stdout


@pytest.mark.slow
def test_an_installed_jaxgan_fills_in_an_old_runs_config_from_its_own_base_config(tmp_path):
  # A copy of the project, so that building it leaves nothing in the checkout.
  source = tmp_path / "source"
  shutil.copytree(os.path.join(ROOT, "jaxgan"), source / "jaxgan",
                  ignore=shutil.ignore_patterns("__pycache__"))
  for name in ("pyproject.toml", "README.md"):
    shutil.copy(os.path.join(ROOT, name), source / name)
  site = tmp_path / "site"
  subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                  "--no-build-isolation", "--target", str(site), str(source)],
                 check=True, capture_output=True, timeout=600)
  old_run = os.path.join(ROOT, "tests", "data", "pmap_era_run", "config.json")
  script = ("import json, sys, jaxgan; from jaxgan import config_io; "
            f"c = config_io.load_json({old_run!r}, log_upgrade=False); "
            "print(json.dumps([jaxgan.__file__, config_io.to_json(c)]))")
  # Outside the checkout, with the installed copy first and the venv's other packages.
  result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(site)))
  assert result.returncode == 0, result.stderr[-3000:]
  where, installed = json.loads(result.stdout.splitlines()[-1])
  assert where.startswith(str(site)), where
  with open(old_run) as f:
    old = json.load(f)
  assert "population" not in old and "critic_conv" in old["model"]
  assert installed["population"]["size"] == 1  # filled in: a single run
  assert installed["dataset"]["channels"] == 0  # LEGACY_VALUES: not a folder
  assert installed["optimizer"]["decay_steps"] == old["train"]["num_steps"]
  assert "critic_conv" not in installed["model"]  # RETIRED_KEYS dropped
  assert installed == config_io.to_json(config_io.load_json(old_run, log_upgrade=False))
