"""Every rule a config must satisfy, in one table, checked before anything runs.

`validate(config)` walks RULES and raises errors.ConfigError with one line naming
the key, its value and what is allowed. It builds no model, touches no device and
writes nothing, so a typo costs one line and never touches an existing run; the
only data it looks at is a folder dataset's file list when the images decide the
channels. The rest of the library trusts a validated config.

A rule is (key, predicate on the value, what is allowed[, when it applies]).
Choices list their allowed values from the registries the code uses (losses,
penalties, models, datasets), so adding an entry to a registry is one edit.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

from jaxgan import augment as augment_lib
from jaxgan import config_io
from jaxgan import data as data_lib
from jaxgan import errors
from jaxgan import losses as losses_lib
from jaxgan import penalties
from jaxgan import population
from jaxgan import sample as sample_lib
from jaxgan import train as train_lib
from jaxgan.models import ARCHS
from jaxgan.models import CONDITIONALS
from jaxgan.models import DTYPES
from jaxgan.models import RESNET_ARCHS
from jaxgan.models import dcgan
from jaxgan.models import layers
from jaxgan.models import resnet

OPTIMIZERS = ("adam", "rmsprop")
SCHEDULES = ("constant", "linear")
FAKE_LABELS = ("real", "uniform")  # train.critic_fake_labels


def _always(config) -> bool:
  del config
  return True


@dataclasses.dataclass(frozen=True)
class Rule:
  """`key`'s value must satisfy `ok`; `allowed` says what is (for the message)."""

  key: str
  ok: Callable[[Any], bool]
  allowed: str
  when: Callable[[Any], bool] = _always
  # A bound set by other keys: ok(value, config), and `allowed` a function of config.
  of_config: bool = False
  explain: Callable[[Any], str] | None = None  # the whole message, if not the usual

  def check(self, value, config) -> bool:
    return self.ok(value, config) if self.of_config else self.ok(value)

  def message(self, value, config=None) -> str:
    if self.explain is not None:
      return self.explain(value)
    allowed = self.allowed(config) if self.of_config else self.allowed
    return f"{self.key} must be {allowed}, got {value!r}"


def choice(key, allowed, when=_always) -> Rule:
  """`key` is one of the names `allowed`: "unknown KEY 'x'; allowed: a, b"."""
  allowed = tuple(allowed)
  return Rule(key, lambda v: v in allowed, ", ".join(allowed), when,
              explain=lambda v: f"unknown {key} {v!r}; allowed: {', '.join(allowed)}")


def at_least(key, low, when=_always) -> Rule:
  return Rule(key, lambda v: v >= low, f">= {low}", when)


def unit_interval(key) -> Rule:
  return Rule(key, lambda v: 0.0 <= v < 1.0, "in [0, 1)")


def _image(config) -> bool:  # after the dataset.name rule: a known name
  return data_lib.registry.info(config.dataset.name).kind != data_lib.registry.TOY


def _dcgan(config) -> bool:
  return config.model.arch == "dcgan"


def _conv(config) -> bool:
  return config.model.arch != "mlp"


def _conditional(config) -> bool:
  return config.model.conditional != "none"


def _inception(config) -> bool:
  return bool(config.eval.inception_weights)


def _missing_weights(path) -> str:
  from jaxgan.eval import inception  # pylint: disable=g-import-not-at-top
  message = inception.missing_weights_message(os.path.expanduser(path))
  return f"eval.inception_weights: {message}"


# The Inception metrics' settings, checked when eval.inception_weights is set. The
# weights file is a fact of this machine: checked at start-up, not at the first
# evaluation, so a run without it stops before training.
_INCEPTION_RULES = [
    Rule("eval.inception_weights", lambda v: os.path.exists(os.path.expanduser(v)),
         "an existing file", _inception, explain=_missing_weights),
    Rule("eval.inception_num_samples",
         lambda v, c: v >= max(2, c.eval.is_splits) and v > c.eval.prdc_k,
         lambda c: f">= {max(2, c.eval.is_splits)} (2 and eval.is_splits) and exceed "
                   f"eval.prdc_k ({c.eval.prdc_k})", _inception, of_config=True),
    at_least("eval.inception_batch_size", 0, _inception),
    Rule("eval.inception_real_features", lambda v, c: v >= c.eval.prdc_k + 1,
         lambda c: f">= {c.eval.prdc_k + 1} (eval.prdc_k + 1)", _inception,
         of_config=True),
    at_least("eval.is_splits", 1, _inception),
    at_least("eval.prdc_k", 1, _inception),
]


def _optimizer_rules(prefix: str) -> list[Rule]:
  return [
      choice(f"{prefix}.name", OPTIMIZERS),
      Rule(f"{prefix}.learning_rate", lambda v: v > 0, "> 0"),
      unit_interval(f"{prefix}.b1"),
      unit_interval(f"{prefix}.b2"),
      unit_interval(f"{prefix}.decay"),
      at_least(f"{prefix}.eps", 0),
      choice(f"{prefix}.schedule", SCHEDULES),
  ]


def _augmenting(name):
  return lambda c: c.augment.name == name


def _parts_of(allowed):
  """A comma-separated list of distinct names out of `allowed`, at least one."""
  def ok(v):
    parts = v.split(",")
    return all(p in allowed for p in parts) and len(set(parts)) == len(parts)
  return ok


_AUGMENT_RULES = [
    choice("augment.name", augment_lib.NAMES),
    Rule("augment.name", lambda v: v == "none", "'none' on toy 2-D points",
         when=lambda c: not _image(c),
         explain=lambda v: f"augment.name {v!r} augments images; toy 2-D points allow "
                           f"only 'none'"),
    Rule("augment.policy", _parts_of(augment_lib.DIFFAUG_OPS),
         f"comma-separated distinct parts of {','.join(augment_lib.DIFFAUG_OPS)}",
         _augmenting("diffaug")),
    Rule("augment.translation_ratio", lambda v: 0 <= v <= 1, "in [0, 1]",
         _augmenting("diffaug")),
    Rule("augment.cutout_ratio", lambda v: 0 <= v <= 1, "in [0, 1]", _augmenting("diffaug")),
    Rule("augment.ada_ops", _parts_of(augment_lib.ADA_OPS),
         f"comma-separated distinct transforms of {','.join(augment_lib.ADA_OPS)}",
         _augmenting("ada")),
    Rule("augment.ada_target", lambda v: 0 <= v <= 1, "in [0, 1]", _augmenting("ada")),
    at_least("augment.ada_interval", 1, _augmenting("ada")),
    Rule("augment.ada_kimg", lambda v: v > 0, "> 0", _augmenting("ada")),
    Rule("augment.p_init", lambda v: 0 <= v <= 1, "in [0, 1]", _augmenting("ada")),
    Rule("augment.p_init", lambda v: v > 0,
         "in (0, 1] with augment.ada_fixed (a fixed p of 0 never augments)",
         lambda c: c.augment.name == "ada" and c.augment.ada_fixed),
    choice("augment.ada_heuristic", augment_lib.HEURISTICS, _augmenting("ada")),
]


RULES: tuple[Rule, ...] = tuple([
    at_least("seed", 0),
    choice("dataset.name", data_lib.registry.NAMES),
    at_least("dataset.image_size", 1, when=_image),
    Rule("dataset.path", bool, "a directory of images when dataset.name='folder'",
         when=lambda c: c.dataset.name == "folder"),
    at_least("dataset.shuffle_buffer", 1),
    Rule("dataset.channels", lambda v: v in (0, 1, 3), "0 (from the data), 1 or 3",
         when=_image),
    choice("dataset.pixel_scaling", train_lib.PIXEL_SCALINGS),
    Rule("dataset.pixel_scaling", lambda v: v == "closed", "'closed' for a toy dataset "
         "(its points are not 8-bit pixels)", when=lambda c: not _image(c)),
    choice("model.arch", ARCHS),
    at_least("model.z_dim", 1),
    at_least("model.width", 1, when=_conv),
    at_least("model.generator_width", 0, when=_conv),
    choice("model.upsample", dcgan.UPSAMPLE_METHODS, when=_dcgan),
    choice("model.critic_norm", dcgan.CRITIC_NORMS, when=_conv),
    Rule("model.bn_epsilon", lambda v: v > 0, "> 0"),
    choice("model.bn_running_var", layers.BN_RUNNING_VARS),
    choice("model.sample_bn_stats", sample_lib.SAMPLE_BN_STATS),
    choice("model.spectral_norm_iteration", train_lib.SPECTRAL_NORM_ITERATIONS),
    choice("model.dtype", DTYPES),
    Rule("model.spectral_norm", lambda v: v is True, "True for model.arch='sngan' (every "
         "critic layer is spectrally normalised in SNGAN)",
         when=lambda c: c.model.arch == "sngan"),
    Rule("model.spectral_norm", lambda v: v is False, "False for an MLP (spectral norm "
         "is built for the conv critics)", when=lambda c: c.model.arch == "mlp"),
    Rule("model.hidden", lambda v: len(v) > 0 and min(v) >= 1,
         "a non-empty tuple of positive widths", when=lambda c: c.model.arch == "mlp"),
    choice("model.conditional", CONDITIONALS),
    Rule("model.generator_batch_norm", lambda v: v is True, "True for a conditional DCGAN "
         "(the labels enter its generator through class-conditional BatchNorm)",
         when=lambda c: _conditional(c) and _dcgan(c)),
    at_least("loss.acgan_scale", 0),
    at_least("loss.acgan_scale_g", 0),
    choice("train.critic_fake_labels", FAKE_LABELS),
    choice("loss.name", losses_lib.LOSS_NAMES),
    choice("penalty.name", penalties.PENALTY_NAMES),
    choice("penalty.method", penalties.PENALTY_METHODS),
    choice("penalty.perturbation", penalties.DRAGAN_PERTURBATIONS),
    at_least("penalty.weight", 0),
    at_least("penalty.target", 0),
    at_least("penalty.noise_variance", 0),
    at_least("penalty.noise_scale", 0),
    at_least("penalty.lazy_interval", 1),
    at_least("train.num_steps", 1),
    at_least("train.batch_size", 1),
    at_least("train.n_critic", 1),
    Rule("train.weight_clip", lambda v: v is None or v > 0, "> 0 (or None to disable)"),
    Rule("train.critic_unroll", lambda v: v >= 0, ">= 0 (0 = per-backend default)"),
    Rule("train.generator_batch_size", lambda v: v >= 0, ">= 0 (0 = train.batch_size)"),
    at_least("train.dequantization", 0),
    at_least("optimizer.decay_steps", 1),
    *_optimizer_rules("optimizer.critic"),
    *_optimizer_rules("optimizer.generator"),
    unit_interval("ema.decay"),
    at_least("ema.start_step", 0),
    at_least("log.every", 1),
    at_least("log.sample_every", 1),
    at_least("log.checkpoint_every", 1),
    at_least("log.max_checkpoints", 1),
    at_least("log.num_samples", 1),
    Rule("log.eval_every", lambda v: v >= 0, ">= 0 (0 = never)"),
    # Two samples at least: the distances' unbiased estimators need pairs.
    at_least("eval.num_samples", 2),
    Rule("eval.hq_sigmas", lambda v: v > 0, "> 0"),
    Rule("eval.strict_fraction", lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    at_least("eval.num_projections", 1),
    Rule("eval.mmd_bandwidths", lambda v: all(b > 0 for b in v),
         "positive length scales (or () for no MMD)"),
    at_least("eval.kid_subsets", 1),
    at_least("eval.kid_subset_size", 2),
    *_INCEPTION_RULES,
    *_AUGMENT_RULES,
    at_least("population.size", 1),
    choice("population.method", population.METHODS),
    Rule("population.best_metric", lambda v: isinstance(v, str) and bool(v),
         "the name of an evaluation number (e.g. 'fd_digits_classifier', "
         "'sliced_wasserstein', 'hq_percent')"),
])


# When a sweepable hyperparameter matters to the run, and why not otherwise.
_SWEEP_USED = {
    "penalty_weight": (lambda c: c.penalty.name != "none",
                       "penalty.name='none' has no penalty weight"),
    "noise_variance": (lambda c: c.penalty.name == "dragan"
                       and c.penalty.perturbation == "gaussian",
                       "only DRAGAN's penalty.perturbation='gaussian' uses "
                       "penalty.noise_variance"),
    "noise_scale": (lambda c: c.penalty.name == "dragan"
                    and c.penalty.perturbation == "std_uniform",
                    "only DRAGAN's penalty.perturbation='std_uniform' uses "
                    "penalty.noise_scale"),
    "critic_lr": (_always, ""),
    "generator_lr": (_always, ""),
    **{f"{who}_{field}": (lambda c, who=who, opt=opt: c.optimizer[who].name == opt, why)
       for who in ("critic", "generator")
       for field, opt, why in [("b1", "adam", "only Adam has b1"),
                               ("b2", "adam", "only Adam has b2"),
                               ("decay", "rmsprop", "only RMSProp has a decay")]},
    "ema_decay": (lambda c: c.ema.enabled, "ema.enabled is False"),
}


def _numbers_each(target: Rule):
  def ok(values) -> bool:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return numbers and all(target.ok(v) for v in values) and len(set(values)) == len(values)
  return ok


def _sweep_rules() -> list[Rule]:
  """Each sweep's values obey the rule of the key they replace, and a sweep is
  empty unless the run uses that hyperparameter."""
  targets = {rule.key: rule for rule in RULES}
  out = []
  for field, key in population.SWEEPABLE.items():
    used, why = _SWEEP_USED[field]
    name = f"population.sweep.{field}"
    out.append(Rule(name, _numbers_each(targets[key]),
                    f"distinct numbers, each {targets[key].allowed} (values of {key})",
                    when=used))
    out.append(Rule(name, lambda v: len(v) == 0, f"() here: {why}",
                    when=lambda c, used=used: not used(c)))
  return out


RULES += tuple(_sweep_rules())


def _get(config, key: str):
  node = config
  for part in key.split("."):
    node = node[part]
  return node


def _check_model_fits_data(model_cfg, data_shape) -> None:
  """The rules that need the data's shape: a DCGAN needs square images it can build,
  the CIFAR-10 ResNets 32x32 colour images."""
  if model_cfg.arch in RESNET_ARCHS and tuple(data_shape) != resnet.IMAGE_SHAPE:
    raise errors.ConfigError(
        f"model.arch {model_cfg.arch!r} is the CIFAR-10 ResNet: it needs 32x32x3 images, "
        f"got data of shape {tuple(data_shape)}; set dataset.image_size=32 (and "
        f"dataset.channels=3) or use model.arch='dcgan'")
  if model_cfg.arch != "dcgan":
    return
  if len(data_shape) != 3:
    raise errors.ConfigError(
        f"model.arch 'dcgan' needs image data [H, W, C], got data of shape "
        f"{tuple(data_shape)}; use model.arch='mlp' for 2-D toy data")
  if data_shape[0] != data_shape[1] or dcgan.num_blocks(data_shape[0]) is None:
    raise errors.ConfigError(
        f"model.arch 'dcgan' cannot build images of size {data_shape[0]}x{data_shape[1]}; "
        f"allowed square sizes: {', '.join(map(str, dcgan.supported_sizes()))}")


def _check_population(config) -> None:
  """Only sweepable keys in population.sweep; a sweep must make a population (one
  value and one seed is the config's own key)."""
  for name in config.population.sweep.keys():
    if name not in population.SWEEPABLE:
      key = f"population.sweep.{name}"
      raise errors.ConfigError(config_io.static_sweep_message(config, key, key))
  grid = population.swept(config)
  if grid and not population.is_population(config):
    field, (value,) = next(iter(grid.items()))
    key = population.SWEEPABLE[field]
    raise errors.ConfigError(
        f"population.sweep.{field}=({value:g},) with population.size=1 is one run; set "
        f"--config.{key}={value:g} instead, or give more values or seeds")
  if population.is_population(config) and _conditional(config):
    # The population's data iterators and step carry images only, not labels.
    raise errors.ConfigError(
        f"model.conditional={config.model.conditional!r} with a population "
        f"({population.num_members(config)} members): a population trains unconditional "
        f"GANs only; use model.conditional='none', or train the conditional runs one by one")


def validate(config) -> tuple[int, ...]:
  """Checks every rule; returns the shape of one example of the data.

  Raises:
    errors.ConfigError: one line naming the first bad key, its value and what is
      allowed.
  """
  for rule in RULES:
    if rule.when(config):
      value = _get(config, rule.key)
      try:
        ok = rule.check(value, config)
      except TypeError:  # e.g. a string where a number belongs
        ok = False
      if not ok:
        raise errors.ConfigError(rule.message(value, config))
  try:
    losses_lib.get_loss(config.loss.name, **config.loss.options.to_dict())
    data_shape = tuple(data_lib.data_shape(config.dataset))
  except ValueError as e:  # a loss option, or a folder's contents decide the shape
    raise errors.ConfigError(str(e)) from None
  _check_model_fits_data(config.model, data_shape)
  if _conditional(config):
    try:
      data_lib.require_labels(config.dataset)
    except ValueError as e:
      raise errors.ConfigError(f"model.conditional={config.model.conditional!r} needs class "
                               f"labels: {e}") from None
  _check_population(config)
  return data_shape
