"""Recipes: every recipe x dataset variant validates; every hyperparameter is
commented; bad names and values get one clear error naming them."""

import glob
import importlib
import os
import re

import numpy as np
from PIL import Image
import pytest

from jaxgan import errors
from jaxgan import validation
from jaxgan.data import registry

RECIPES = ("wgan", "wgan_gp", "dragan", "lsgan", "nsgan", "sngan")
CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs")


def _recipe(name):
  return importlib.import_module(f"configs.{name}")


@pytest.fixture(scope="module")
def colour_folder(tmp_path_factory):
  root = tmp_path_factory.mktemp("photos")
  Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "a.png")
  return str(root)


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("dataset", registry.NAMES)
def test_every_recipe_validates_on_every_dataset(recipe, dataset, colour_folder):
  config = _recipe(recipe).get_config(f"dataset={dataset}")
  if dataset == "folder":
    config.dataset.path = colour_folder  # its images decide the channels
  shape = validation.validate(config)
  if recipe == "sngan" and dataset == "cifar10":
    assert shape == (32, 32, 3) and config.model.arch == "sngan"  # the SNGAN ResNet
    return
  if dataset == "folder":
    # Sized for a CPU: a width-32 DCGAN at 32x32 in every recipe.
    assert shape == (32, 32, 3) and config.model.arch == "dcgan"
    assert config.model.width == 32 and config.dataset.image_size == 32
    assert config.model.spectral_norm == (recipe == "sngan")
    return
  assert config.dataset.image_size == registry.info(dataset).image_size
  if registry.info(dataset).kind == registry.TOY:
    assert shape == (2,) and config.model.arch == "mlp"
    assert config.model.hidden == (512, 512, 512) and config.train.batch_size == 256
  elif dataset == "digits" and recipe != "sngan":
    assert shape == (8, 8, 1) and config.model.arch == "mlp"
  else:
    # SNGAN on digits too: a spectrally normalised DCGAN critic.
    assert len(shape) == 3 and config.model.arch == "dcgan"
    assert config.model.spectral_norm == (recipe == "sngan")


@pytest.mark.parametrize("recipe", RECIPES)
def test_dcgan_variant_validates_on_digits(recipe):
  config = _recipe(recipe).get_config("arch=dcgan")
  assert validation.validate(config) == (8, 8, 1) and config.model.arch == "dcgan"


def test_recipes_carry_the_papers_hyperparameters():
  wgan = _recipe("wgan").get_config()
  assert (wgan.train.weight_clip, wgan.optimizer.critic.name,
          wgan.optimizer.critic.learning_rate, wgan.train.n_critic) == (0.01, "rmsprop", 5e-5, 5)
  gp = _recipe("wgan_gp").get_config()
  assert (gp.penalty.name, gp.penalty.weight, gp.train.n_critic) == ("wgan_gp", 10.0, 5)
  assert (gp.optimizer.critic.learning_rate, gp.optimizer.critic.b1,
          gp.optimizer.critic.b2) == (1e-4, 0.5, 0.9)
  assert _recipe("wgan_gp").get_config("dataset=25gaussians").penalty.weight == 0.1
  dr = _recipe("dragan").get_config()
  assert (dr.penalty.name, dr.penalty.weight, dr.penalty.target, dr.loss.name) == (
      "dragan", 10.0, 1.0, "non_saturating")
  assert _recipe("dragan").get_config("loss=wasserstein").loss.name == "wasserstein"
  assert _recipe("dragan").get_config("perturbation=gaussian").penalty.perturbation == "gaussian"
  ls = _recipe("lsgan").get_config()
  assert dict(ls.loss.options) == {"a": 0.0, "b": 1.0, "c": 1.0}
  assert (ls.optimizer.critic.learning_rate, ls.optimizer.critic.b1) == (2e-4, 0.5)
  assert _recipe("nsgan").get_config().loss.name == "non_saturating"


def test_resnet_recipes_carry_their_authors_hyperparameters():
  # gan_cifar_resnet.py: Adam 2e-4, betas (0, 0.9), linear decay to 0 over 100k
  # generator iterations, n_critic 5, batch 64, generator batch 2 x 64, lambda 10,
  # dequantisation U[0, 1/128).
  gp = _recipe("wgan_gp").get_config("dataset=cifar10,arch=resnet")
  for opt in (gp.optimizer.critic, gp.optimizer.generator):
    assert (opt.name, opt.learning_rate, opt.b1, opt.b2, opt.schedule) == (
        "adam", 2e-4, 0.0, 0.9, "linear")
  assert (gp.train.num_steps, gp.optimizer.decay_steps, gp.train.n_critic,
          gp.train.batch_size, gp.train.generator_batch_size) == (100_000, 100_000, 5, 64, 128)
  assert (gp.penalty.name, gp.penalty.weight, gp.train.dequantization) == (
      "wgan_gp", 10.0, 1 / 128)
  assert (gp.model.arch, gp.model.width, gp.model.spectral_norm) == ("resnet", 128, False)
  # The DCGAN recipe is untouched by the ResNet's settings.
  dc = _recipe("wgan_gp").get_config("dataset=cifar10")
  assert (dc.optimizer.critic.learning_rate, dc.train.generator_batch_size,
          dc.train.dequantization) == (1e-4, 0, 0.0)
  # SNGAN (sngan_projection sn_cifar10_unconditional.yml; 100k steps as the issue).
  sn = _recipe("sngan").get_config("dataset=cifar10")
  assert (sn.loss.name, sn.penalty.name, sn.train.n_critic, sn.train.batch_size,
          sn.train.generator_batch_size, sn.train.num_steps) == (
              "hinge", "none", 5, 64, 128, 100_000)
  for opt in (sn.optimizer.critic, sn.optimizer.generator):
    assert (opt.learning_rate, opt.b1, opt.b2, opt.schedule) == (2e-4, 0.0, 0.9, "linear")
  assert (sn.model.arch, sn.model.width, sn.model.generator_width, sn.model.spectral_norm,
          sn.model.bn_epsilon, sn.ema.enabled) == ("sngan", 128, 256, True, 2e-5, False)
  assert _recipe("sngan").get_config("dataset=cifar10,ema=true").ema.enabled


def test_r1_variant_carries_mescheder_et_al_gamma_and_the_lazy_option():
  r1 = _recipe("nsgan").get_config("penalty=r1")
  assert (r1.loss.name, r1.penalty.name, r1.penalty.weight, r1.penalty.lazy_interval,
          r1.train.n_critic) == ("non_saturating", "r1", 20.0, 1, 1)
  for opt in (r1.optimizer.critic, r1.optimizer.generator):  # GAN_stability's Adam
    assert (opt.learning_rate, opt.b1, opt.b2, opt.schedule) == (1e-4, 0.0, 0.99, "constant")
  plain = _recipe("nsgan").get_config()
  assert (plain.optimizer.critic.learning_rate, plain.optimizer.critic.b1) == (2e-4, 0.5)
  lazy = _recipe("nsgan").get_config("dataset=cifar10,arch=resnet,penalty=r1,lazy=true")
  assert (lazy.penalty.lazy_interval, lazy.penalty.weight) == (16, 20.0)
  assert validation.validate(lazy) == (32, 32, 3)
  assert _recipe("nsgan").get_config("penalty=r2").penalty.name == "r2"
  assert _recipe("nsgan").get_config().penalty.weight == 0.0
  with pytest.raises(ValueError, match="lazy=true needs penalty=r1 or penalty=r2"):
    _recipe("nsgan").get_config("lazy=true")
  with pytest.raises(ValueError, match="unknown penalty 'gp'; allowed: none, r1, r2"):
    _recipe("nsgan").get_config("penalty=gp")


def test_resnet_arch_resizes_other_image_sets_to_32x32_colour():
  config = _recipe("wgan_gp").get_config("dataset=mnist,arch=resnet")
  assert (config.dataset.image_size, config.dataset.channels) == (32, 3)
  assert validation.validate(config) == (32, 32, 3)
  with pytest.raises(errors.ConfigError, match="needs 32x32x3 images, got data of shape"):
    validation.validate(_recipe("sngan").get_config("dataset=8gaussians,arch=sngan"))


def _undocumented_assignments(path):
  """Lines assigning a config value with no comment on the line or just above it."""
  lines = open(path).read().splitlines()
  bad = []
  for i, line in enumerate(lines):
    if re.match(r"\s*(config|opt)\.[\w.]+\s*=", line) and "ConfigDict()" not in line:
      above = lines[i - 1].strip() if i else ""
      # A statement continued on the next line may carry its comment there.
      statement = line + (lines[i + 1] if line.rstrip().endswith("(") else "")
      if "#" not in statement and not above.startswith("#"):
        bad.append(f"{os.path.basename(path)}:{i + 1}: {line.strip()}")
  return bad


def test_every_hyperparameter_assignment_is_commented():
  bad = []
  base = os.path.join(os.path.dirname(CONFIG_DIR), "jaxgan", "base_config.py")
  for path in sorted(glob.glob(os.path.join(CONFIG_DIR, "*.py"))) + [base]:
    bad += _undocumented_assignments(path)
  assert not bad, "uncommented config values:\n" + "\n".join(bad)


def test_every_recipe_docstring_holds_its_command():
  for recipe in RECIPES:
    doc = _recipe(recipe).__doc__
    assert f"python launch.py --config=configs/{recipe}.py" in doc, recipe


def test_unknown_variant_key_names_the_allowed_keys():
  with pytest.raises(ValueError,
                     match=r"'datset=mnist'.*\['arch', 'augment', 'conditional', 'dataset'\]"):
    _recipe("wgan_gp").get_config("datset=mnist")


def test_unknown_variant_dataset_lists_datasets():
  with pytest.raises(ValueError, match=r"unknown dataset 'mnst'; allowed: digits, mnist"):
    _recipe("wgan_gp").get_config("dataset=mnst")


@pytest.mark.parametrize("key,value,message", [
    ("loss.name", "wasserstien", r"unknown loss.name 'wasserstien'; allowed: wasserstein"),
    ("penalty.name", "gp", r"unknown penalty.name 'gp'; allowed: none, wgan_gp, dragan"),
    ("penalty.method", "hvp", r"unknown penalty.method 'hvp'; allowed: double_backward, jvp"),
    ("dataset.name", "imagenet", r"unknown dataset.name 'imagenet'; allowed: digits"),
    ("model.arch", "vit", r"unknown model.arch 'vit'; allowed: mlp, dcgan, resnet, sngan"),
    ("model.arch", "resnet", r"model.arch 'resnet' is the CIFAR-10 ResNet: it needs 32x32x3"),
    ("dataset.image_size", 10, r"cannot build images of size 10x10; allowed square sizes: 8, "),
    ("train.n_critic", 0, r"train.n_critic must be >= 1, got 0"),
    ("train.weight_clip", -0.01, r"train.weight_clip must be > 0"),
    ("penalty.weight", -1.0, r"penalty.weight must be >= 0, got -1.0"),
    ("optimizer.critic.learning_rate", -1e-4, r"optimizer.critic.learning_rate must be > 0"),
    ("optimizer.generator.name", "sgd", r"unknown optimizer.generator.name 'sgd'; allowed: adam"),
    ("model.upsample", "bilinear", r"unknown model.upsample 'bilinear'; allowed: conv_transpose"),
])
def test_bad_values_raise_one_config_error_naming_them(key, value, message):
  config = _recipe("wgan_gp").get_config("arch=dcgan")
  node = config
  *parents, leaf = key.split(".")
  for p in parents:
    node = node[p]
  node[leaf] = value
  with pytest.raises(errors.ConfigError, match=message):
    validation.validate(config)


def test_folder_dataset_without_a_path_is_rejected():
  config = _recipe("wgan_gp").get_config("dataset=folder")
  with pytest.raises(errors.ConfigError, match="dataset.path must be a directory of images"):
    validation.validate(config)


def test_dcgan_on_toy_data_is_rejected_with_the_fix():
  config = _recipe("wgan_gp").get_config("dataset=8gaussians")
  config.model.arch = "dcgan"
  with pytest.raises(errors.ConfigError, match="use model.arch='mlp'"):
    validation.validate(config)
