"""--config through ml_collections.config_flags, and a run's config.json in and out.

`define_flag` is `config_flags.DEFINE_config_file` (variants `wgan_gp.py:dataset=mnist`
are its `path:arg`; overrides `--config.train.n_critic=3` are native) that also takes
a run's config.json (`load_json`) and names the closest key to an unknown one. Each
key type's parser says what the key takes (a float key also takes None).
"""

from __future__ import annotations

import ast
import collections
import difflib
import importlib
import json
import logging
import os
import re
import shlex
import sys

from absl import flags
import ml_collections
from ml_collections import config_flags
from ml_collections.config_flags import tuple_parser

from jaxgan import base_config
from jaxgan import errors

logger = logging.getLogger("jaxgan")


def to_json(config) -> dict:
  """The resolved config as plain JSON data (tuples become lists)."""
  return json.loads(config.to_json())


def flatten(tree: dict, prefix: str = "") -> dict:
  """{"a": {"b": 1}, "c": {}} -> {"a.b": 1, "c": {}} (an empty group is a leaf)."""
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict) and value:
      out.update(flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


# Keys that jaxgan no longer has, and why a run that set them still means the same.
RETIRED_KEYS = {
    "model.critic_conv": "every value computed the same critic (a speed option)",
    "model.conv_transpose_impl": "every value computed the same conv_transpose",
}

# Keys added after runs were made whose recipe default would change such a run:
# the value that reproduces the behaviour before the key existed, from the old config.
LEGACY_VALUES = {
    # Folders always trained in colour before dataset.channels existed.
    "dataset.channels": lambda old: 3 if old.get("dataset.name") == "folder" else 0,
    # The linear decay always spanned the run's length.
    "optimizer.decay_steps": lambda old: old.get("train.num_steps"),
    # BatchNorm's running variance averaged flax's biased batch variance.
    "model.bn_running_var": lambda old: "biased",
    # Every generator sampled and was evaluated with BatchNorm's running averages.
    "model.sample_bn_stats": lambda old: "running",
    # Spectral norm's u advanced once per critic update (SNGAN's runs too).
    "model.spectral_norm_iteration": lambda old: "per_update",
    # Pixels were always v / 127.5 - 1 (the authors' recipes too).
    "dataset.pixel_scaling": lambda old: "closed",
}


def describe_keys(keys) -> str:
  """'34 keys (eval: 7, model: 5, ...)': a long list of keys in one short clause."""
  groups = collections.Counter(key.split(".")[0] for key in keys)
  return f"{len(keys)} keys ({', '.join(f'{g}: {n}' for g, n in sorted(groups.items()))})"


def load_json(path: str, *, log_upgrade: bool = True) -> ml_collections.ConfigDict:
  """A config.json written by a run, as a locked ConfigDict (lists back to tuples).

  Keys jaxgan gained after the run was made are filled in from the base config
  (jaxgan/base_config.py, installed with the package): with LEGACY_VALUES where
  the default would change the run, else with the default, so an old checkpoint
  still samples, evaluates and resumes as it was trained; RETIRED_KEYS are
  dropped. `log_upgrade` logs what was filled in. Raises errors.ConfigError if
  the file cannot be read or is not a run's config.
  """
  try:
    with open(path) as f:
      old = flatten(json.load(f))
    base = flatten(to_json(base_config.make(old["dataset.name"], old["model.arch"])))
  except (OSError, ValueError, KeyError, AttributeError) as e:
    raise errors.ConfigError(f"cannot read config {path}: {type(e).__name__}: {e}") from None
  filled = {k: LEGACY_VALUES[k](old) if k in LEGACY_VALUES else v for k, v in base.items()
            if k not in old and not k.startswith("loss.options")}
  for key in RETIRED_KEYS:
    old.pop(key, None)
  if filled and log_upgrade:
    logger.info("%s predates %s added to jaxgan since; each takes the value that keeps "
                "the run as it was trained (listed with --verbosity=1)", path,
                describe_keys(filled))
    logger.debug("filled in: %s", ", ".join(f"{k}={v!r}" for k, v in sorted(filled.items())))
  tree: dict = {}
  for key, value in {**old, **filled}.items():
    *parents, leaf = key.split(".")
    node = tree
    for part in parents:
      node = node.setdefault(part, {})
    node[leaf] = tuple(value) if isinstance(value, list) else value
  config = ml_collections.ConfigDict(tree)
  config.lock()
  return config


def override_flag(key: str, value) -> str:
  """`--config.KEY=VALUE` that parses back to `value` (shell-quoted if needed)."""
  def text(v):
    if isinstance(v, (list, tuple)):
      return f"({','.join(map(text, v))}{',' if len(v) == 1 else ''})"
    return v if isinstance(v, str) else repr(v)
  return shlex.quote(f"--config.{key}={text(value)}")


def _clear(parser_class, what: str, none: bool = False):
  """config_flags' parser of one key type, whose error says what the key takes."""
  class Parser(parser_class):
    def parse(self, argument):
      if none and isinstance(argument, str) and argument.strip().lower() == "none":
        return None
      try:
        return super().parse(argument)
      except ValueError:
        raise ValueError(f"expected {what}") from None
  return Parser()


class _Group(flags.ArgumentParser):
  """A group of keys (`--config.loss=x`) is never set whole from the command line."""

  def parse(self, argument):
    if isinstance(argument, ml_collections.ConfigDict):  # the group's own value
      return argument
    raise ValueError("a group of keys; set one of its keys")


class _Literal(flags.ArgumentParser):
  """A key that is None in a run's config.json: any Python literal, else a string."""

  def parse(self, argument):
    try:
      return ast.literal_eval(argument)
    except (ValueError, SyntaxError):
      return argument


for _kind, _parser in [(int, _clear(flags.IntegerParser, "an integer")),
                       (float, _clear(flags.FloatParser, "a number or None", none=True)),
                       (bool, _clear(flags.BooleanParser, "true or false")),
                       (tuple, _clear(tuple_parser.TupleParser, "a tuple such as (256,256)")),
                       (ml_collections.ConfigDict, _Group()), (type(None), _Literal())]:
  config_flags.register_flag_parser_for_type(_kind, _parser)

_SWEEP = "population.sweep."  # a population's per-member values (jaxgan/population.py)


def check_keys(config, argv) -> None:
  """Every --config.KEY in `argv` names a key of `config`, else a ConfigError."""
  known = flatten(to_json(config))
  for arg in argv:
    match = re.match(r"--?(?:no)?config\.([^=]+)", arg)
    key = match and match.group(1)
    if not key or key in known or any(k.startswith(key + ".") for k in known):
      continue
    if key.startswith(_SWEEP):
      raise errors.ConfigError(static_sweep_message(config, key, arg))
    close = difflib.get_close_matches(key, known, n=1)
    raise errors.ConfigError(f"unknown config key in {arg}"
                             + (f"; did you mean {close[0]}?" if close else ""))


class _Parser(flags.ArgumentParser):
  """A recipe (`configs/NAME.py[:variant]`) as config_flags loads it, or a run's config.json."""

  def __init__(self, recipes, argv):
    self._recipes, self._argv = recipes, argv

  def flag_type(self):
    return self._recipes.flag_type()

  def parse(self, path):
    file, sep, _ = path.partition(":")
    if file.endswith(".json") and sep:
      raise errors.ConfigError(f"--config={path}: a config.json takes no variant")
    if not os.path.isfile(file):
      raise errors.ConfigError(f"config file not found: {file}{_file_hint(file)}")
    try:
      config = load_json(file) if file.endswith(".json") else self._recipes.parse(path)
    except ValueError as e:  # base_config.parse_arg's, behind config_flags' traceback
      raise errors.ConfigError(f"--config={path}: {e.__context__ or e}") from None
    except AttributeError as e:
      if e.name != "get_config":
        raise
      raise errors.ConfigError(f"{file} is not a recipe: it has no get_config(arg=None)")
    check_keys(config, self._argv or sys.argv)
    return config


# The recipes shipped beside the package (a checkout: <repository>/configs).
RECIPES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "configs")


def _file_hint(file: str) -> str:
  """'; did you mean X?' for a missing config file: a close name in its directory, or
  the recipe of that name in the repository when the path was relative to another
  directory; '' when nothing is close."""
  shipped = os.path.join(RECIPES_DIR, os.path.basename(file))
  if not os.path.isabs(file) and os.path.isfile(shipped):
    return (f" (relative to {os.getcwd()}); did you mean {shipped}? Recipe paths are "
            f"relative to the current directory")
  directory = os.path.dirname(file) or "."
  if not os.path.isdir(directory):
    directory = RECIPES_DIR if os.path.basename(os.path.dirname(file)) == "configs" else ""
  names = [n for n in (os.listdir(directory) if directory else [])
           if n.endswith((".py", ".json")) and not n.startswith("_")]
  close = difflib.get_close_matches(os.path.basename(file), names, n=1)
  return f"; did you mean {os.path.join(os.path.dirname(file), close[0])}?" if close else ""


def define_flag(values=flags.FLAGS, argv=None):
  """--config in `values` (argv: the command line it will parse; None: sys.argv)."""
  holder = config_flags.DEFINE_config_file(
      "config", None, "Recipe (configs/NAME.py[:variant]) or a run's config.json.",
      flag_values=values, sys_argv=argv)
  values["config"].parser = _Parser(values["config"].parser, argv)
  return holder


def parse(values, argv):
  """values(argv), every flag problem one errors.ConfigError (what was wrong and allowed)."""
  try:
    return values(argv)
  except flags.Error as e:
    if isinstance(e.__context__, errors.UserError):
      raise e.__context__ from None
    raise errors.ConfigError(str(e)) from None


def load(recipe: str, overrides=()) -> tuple[ml_collections.ConfigDict, list[str]]:
  """What `launch.py --config=RECIPE --config.KEY=TEXT ...` means: (config, warnings)."""
  argv = ["jaxgan", f"--config={recipe}", *(f"--config.{k}={v}" for k, v in overrides)]
  values = flags.FlagValues()
  holder = define_flag(values, argv)
  parse(values, argv)
  return holder.value, dataset_warnings(values["config"])


def apply_overrides(config, overrides) -> ml_collections.ConfigDict:
  """`config` (a run's own) with (KEY, TEXT) pairs set as --config.KEY=TEXT would."""
  argv = ["jaxgan", *(f"--config.{k}={v}" for k, v in overrides)]
  check_keys(config, argv)
  values = flags.FlagValues()
  holder = config_flags.DEFINE_config_dict("config", config, flag_values=values, sys_argv=argv)
  parse(values, argv)
  return holder.value


def dataset_warnings(flag) -> list[str]:
  """A warning when --config.dataset.name keeps another dataset's recipe defaults."""
  path, _, variant = flag.config_filename.partition(":")
  config, overridden = flag.value, flag.override_values
  if "dataset.name" not in overridden or path.endswith(".json"):
    return []
  items = [i for i in variant.split(",") if i.strip() and not i.strip().startswith("dataset=")]
  new_variant = ",".join(items + [f"dataset={config.dataset.name}"])
  try:
    recipe, _ = load(f"{path}:{new_variant}")
  except errors.ConfigError:  # that dataset is not a variant of this recipe
    return []
  ours, theirs = flatten(to_json(config)), flatten(to_json(recipe))
  differ = [k for k in sorted(ours) if k in theirs and ours[k] != theirs[k]
            and k not in overridden and not k.startswith("log.")]
  if not differ:
    return []
  shown = ", ".join(f"{k} {ours[k]!r} (recipe: {theirs[k]!r})" for k in differ[:6])
  more = f" and {len(differ) - 6} more" if len(differ) > 6 else ""
  return [f"--config.dataset.name={config.dataset.name} keeps settings made for another "
          f"dataset: {shown}{more}; for this dataset's recipe use --config={path}:{new_variant}"]


def static_sweep_message(config, key: str, flag: str) -> str:
  """Why `key` (population.sweep.NAME, not a sweepable name) cannot be swept.

  `flag` names where it came from: the command-line flag, or the key itself.
  """
  from jaxgan import population  # pylint: disable=g-import-not-at-top  (JAX; error path only)
  name = key[len(_SWEEP):]
  by_key = {k: field for field, k in population.SWEEPABLE.items()}
  if name in by_key:
    return f"{flag}: {name} is swept as population.sweep.{by_key[name]}"
  if name == "seed":
    return (f"{flag}: a population's seeds are seed, seed+1, ..., seed+size-1: set "
            f"population.size (and seed for the first)")
  keys = [k for k in flatten(to_json(config)) if not k.startswith("population.")]
  static = [k for k in keys if k == name or k.endswith("." + name)]
  what = f"{static[0]} is static" if static else f"{name} is not a sweepable hyperparameter"
  return (f"{flag}: {what}: a population's members share one compiled step, so its "
          f"architecture, n_critic, batch size, loss, penalty kind and schedules are the "
          f"same for every member; sweepable: {', '.join(population.SWEEPABLE)}")


def recipes_help(configs_dir: str) -> str:
  """The recipes in `configs_dir` with their variants (each recipe's VARIANTS), for --help."""
  lines = ["Recipes (--config=configs/NAME.py[:key=value,...]; first value = default):"]
  for name in sorted(n for n in os.listdir(configs_dir) if re.fullmatch(r"[a-z]\w*\.py", n)):
    module = importlib.import_module(f"configs.{name[:-3]}")
    lines.append(f"  configs/{name}: {(module.__doc__ or '').strip().splitlines()[0]}")
    lines.append(f"      {base_config.describe_variants(module.VARIANTS)}")
  lines.append("Any config value: --config.KEY=VALUE, e.g. --config.train.n_critic=3.")
  return "\n".join(lines)


def split_run_overrides(argv):
  """(argv with --config=X first, the (KEY, TEXT) overrides of a run's own config).

  config_flags refuses --config.KEY=V before --config=X, wherever it stands, so
  --config=X goes first. Without --config (--mode=sample/eval/export of a run),
  --config.KEY=VALUE flags are set aside for the run's config.json.
  """
  argv = [argv[0]] + sorted(argv[1:], key=lambda a: not re.match(r"--?config=", a))
  if any(re.match(r"--?config(=|$)", arg) for arg in argv):
    return argv, []
  overrides = [tuple(a[len("--config."):].split("=", 1)) for a in argv
               if a.startswith("--config.")]
  for pair in overrides:
    if len(pair) != 2:
      raise errors.ConfigError(f"--config.{pair[0]} needs a value: --config.{pair[0]}=VALUE")
  return [a for a in argv if not a.startswith("--config.")], overrides
