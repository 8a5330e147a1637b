"""The workdir policy: which config may continue a run, what is said when it may
not, and which workdirs cannot be used at all."""

import json
import os
import shlex

import pytest

from configs import wgan_gp
from jaxgan import config_io
from jaxgan import errors
from jaxgan import workdir as workdir_lib


def _config():
  config = wgan_gp.get_config("dataset=8gaussians")
  config.model.hidden = (32, 32)
  config.train.num_steps = 6
  return config


def _run_dir(tmp_path, old: dict, *, checkpoint: bool = True) -> workdir_lib.Workdir:
  """A workdir holding config.json `old` (and a checkpoint step, unless told not to)."""
  path = tmp_path / "run"
  os.makedirs(path / "checkpoints" / ("3" if checkpoint else "tmp"), exist_ok=True)
  with open(path / "config.json", "w") as f:
    json.dump(old, f)
  return workdir_lib.Workdir(str(path))


def test_length_logging_eval_and_unroll_may_change_but_not_the_penalty(tmp_path):
  config = _config()
  wd = _run_dir(tmp_path, config_io.to_json(config))
  config.train.num_steps = 12
  config.eval.num_samples = 100
  config.log.every = 7
  # How the same updates compile, not what they compute.
  config.train.critic_unroll = 5 if config.train.critic_unroll != 5 else 1
  wd.check_config(config)
  config.penalty.weight = 1.0
  with pytest.raises(errors.WorkdirError, match="penalty.weight: 0.1 -> 1.0") as err:
    wd.check_config(config)
  assert "--config.penalty.weight=0.1" in str(err.value)
  wd.check_config(config, allow_change=True)


def test_a_workdir_without_a_checkpoint_protects_nothing(tmp_path):
  config = _config()
  wd = _run_dir(tmp_path, config_io.to_json(config), checkpoint=False)
  config.dataset.name = "25gaussians"
  config.penalty.weight = 3.0
  wd.check_config(config)  # a run that never saved a step: any config may start here


def test_the_refusal_names_flags_that_restore_every_kind_of_value(tmp_path):
  config = _config()
  config.train.weight_clip = 0.01
  wd = _run_dir(tmp_path, config_io.to_json(config))
  new = _config()
  new.model.hidden = (64, 64, 64)
  new.ema.enabled = True
  new.dataset.name = "swissroll"
  new.loss.name = "hinge"
  new.model.z_dim = 3
  with pytest.raises(errors.WorkdirError) as err:
    wd.check_config(new)
  advice = str(err.value).split("pass the run's values: ")[1].split(" ;")[0]
  keys = dict(flag[len("--config."):].split("=", 1) for flag in shlex.split(advice))
  assert set(keys) == {"model.hidden", "ema.enabled", "dataset.name", "loss.name",
                       "model.z_dim", "train.weight_clip"}
  # Following the refusal's advice gives back the run's config exactly.
  config_io.apply_overrides(new, list(keys.items()))
  assert config_io.to_json(new) == config_io.to_json(config)
  wd.check_config(new)


def test_a_key_newer_than_the_run_warns_a_retired_one_is_ignored_an_unknown_one_refused(
    tmp_path, caplog):
  config = _config()
  old = config_io.to_json(config)
  del old["model"]["upsample"]  # as if model.upsample were newer than this run
  old["model"]["critic_conv"] = "space_to_depth"  # a key jaxgan has retired
  wd = _run_dir(tmp_path, old)
  with caplog.at_level("WARNING", logger="jaxgan"):
    wd.check_config(config)
  assert "predates config keys model.upsample" in caplog.text
  old["model"]["made_up_key"] = 1
  wd = _run_dir(tmp_path, old)
  with pytest.raises(errors.WorkdirError, match="model.made_up_key: 1 -> '<missing>'"):
    wd.check_config(config)


def test_extending_a_linear_decay_warns_and_names_the_flag_that_keeps_it(tmp_path, caplog):
  config = _config()
  assert config.optimizer.critic.schedule == "linear"  # the toy WGAN-GP recipe's
  wd = _run_dir(tmp_path, config_io.to_json(config))
  with caplog.at_level("WARNING", logger="jaxgan"):
    wd.check_config(config)
    assert "rate jumps" not in caplog.text  # same length: nothing to say
    config.train.num_steps = 12
    wd.check_config(config, training=False)  # sampling trains nothing: nothing to say
    assert "rate jumps" not in caplog.text
    wd.check_config(config)
  assert "spans 12 steps instead of the run's 6" in caplog.text
  assert "--config.optimizer.decay_steps=6" in caplog.text
  config.optimizer.decay_steps = 6  # keeping the horizon: the decay continues as it was
  caplog.clear()
  with caplog.at_level("WARNING", logger="jaxgan"):
    wd.check_config(config)
  assert "rate jumps" not in caplog.text


def test_a_workdir_that_is_a_file_is_one_clear_error(tmp_path):
  path = tmp_path / "run"
  path.write_text("not a directory")
  with pytest.raises(errors.WorkdirError, match="is a file, not a directory"):
    workdir_lib.Workdir(str(path)).check_writable()
  with pytest.raises(errors.WorkdirError, match="is a file, not a run directory"):
    workdir_lib.Workdir(str(path)).check_readable_run()
  with pytest.raises(errors.WorkdirError, match="cannot be created"):
    workdir_lib.Workdir(str(path / "sub")).check_writable()


def test_config_json_is_written_once_for_the_same_config(tmp_path):
  wd = workdir_lib.Workdir(str(tmp_path / "run"))
  config = _config()
  wd.write_config(config)
  before = os.stat(wd.config_path).st_mtime_ns
  wd.write_config(config)  # a re-run with the same config rewrites nothing
  assert os.stat(wd.config_path).st_mtime_ns == before
  assert config_io.to_json(wd.read_config()) == config_io.to_json(config)


def test_an_old_config_json_fills_newer_keys_with_what_reproduces_the_run(tmp_path):
  config = _config()
  old = config_io.to_json(config)
  for group, key in (("optimizer", "decay_steps"), ("dataset", "channels"),
                     ("eval", "num_samples")):
    del old[group][key]  # keys jaxgan gained after this run was made
  old["model"]["critic_conv"] = "strided"  # and one it has retired since
  old["dataset"]["name"] = "folder"
  wd = _run_dir(tmp_path, old)
  restored = wd.read_config()
  assert restored.optimizer.decay_steps == 6  # the decay spanned the run's length
  assert restored.dataset.channels == 3  # folders trained in colour
  assert restored.eval.num_samples == _config().eval.num_samples  # a default
  assert "critic_conv" not in restored.model
  assert restored.loss.options.to_dict() == {}
  assert restored.model.hidden == (32, 32)  # tuples come back as tuples
