"""Configs in and out: recipe files with variants, command-line overrides, JSON.

`load(spec, overrides)` is what `launch.py --config=SPEC --config.KEY=VALUE ...`
means: SPEC is a recipe file with an optional variant
(`configs/wgan_gp.py:dataset=mnist`) or a run's `config.json`; each override
sets one existing key, its text parsed by the key's type. Every problem is one
errors.ConfigError naming the flag and what is allowed. `override_flag` writes a
value back as a flag that `load` parses to the same value, for every key type
(the workdir's refusal message uses it). A config.json older than some keys is
read with those keys filled in (`load_json`), so an old run's config still loads.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import json
import logging
import os
import shlex
import sys

import ml_collections

from jaxgan import errors

logger = logging.getLogger("jaxgan")

_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


# --- JSON -------------------------------------------------------------------------


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


def _tuples(value):
  if isinstance(value, list):
    return tuple(_tuples(v) for v in value)
  if isinstance(value, dict):
    return {k: _tuples(v) for k, v in value.items()}
  return value


def from_flat(flat: dict) -> ml_collections.ConfigDict:
  """{"a.b": 1} -> a locked ConfigDict (lists become tuples)."""
  tree: dict = {}
  for key, value in flat.items():
    node = tree
    *parents, leaf = key.split(".")
    for part in parents:
      node = node.setdefault(part, {})
    node[leaf] = value
  config = ml_collections.ConfigDict(_tuples(tree))
  config.lock()
  return config


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
}


def _base_config(dataset: str, arch: str):
  """configs/common.py's base config (every key a recipe has), for filling old configs."""
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "configs", "common.py")
  if not os.path.exists(path):
    return None
  return load_module(path).base_config(dataset, arch)


def describe_keys(keys) -> str:
  """'34 keys (eval: 7, model: 5, ...)': a long list of keys in one short clause."""
  groups = {}
  for key in keys:
    group = key.split(".")[0]
    groups[group] = groups.get(group, 0) + 1
  return f"{len(keys)} keys ({', '.join(f'{g}: {n}' for g, n in sorted(groups.items()))})"


def load_json(path: str, *, log_upgrade: bool = True) -> ml_collections.ConfigDict:
  """A config.json written by a run, as a locked ConfigDict (lists back to tuples).

  Keys jaxgan gained after the run was made are filled in: with LEGACY_VALUES
  where the recipe default would change the run, else with the default, so a
  checkpoint from months ago still samples, evaluates and resumes as it was
  trained; RETIRED_KEYS are dropped. `log_upgrade` logs what was filled in (the
  full list at DEBUG level).

  Raises:
    errors.ConfigError: the file cannot be read or is not JSON.
  """
  try:
    with open(path) as f:
      old = flatten(json.load(f))
  except (OSError, ValueError) as e:
    raise errors.ConfigError(f"cannot read config {path}: {e}") from None
  base = _base_config(old.get("dataset.name"), old.get("model.arch"))
  filled = {}
  for key, value in (flatten(to_json(base)).items() if base else ()):
    if key not in old and not key.startswith("loss.options"):
      filled[key] = LEGACY_VALUES[key](old) if key in LEGACY_VALUES else value
  for key in RETIRED_KEYS:
    old.pop(key, None)
  if filled and log_upgrade:
    logger.info("%s predates %s added to jaxgan since; each takes the value that keeps "
                "the run as it was trained (listed with --verbosity=1)", path,
                describe_keys(filled))
    logger.debug("filled in: %s", ", ".join(f"{k}={v!r}" for k, v in sorted(filled.items())))
  return from_flat({**old, **filled})


# --- Recipe files -----------------------------------------------------------------


def load_module(path: str):
  """Imports a config-directory module (a recipe, or configs/common.py) by path."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(path)))
  if root not in sys.path:
    sys.path.insert(0, root)
  name = "jaxgan_config_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _load_recipe(path: str):
  if not os.path.isfile(path):
    raise errors.ConfigError(f"config file not found: {path}")
  module = load_module(path)
  if not hasattr(module, "get_config"):
    raise errors.ConfigError(f"{path} is not a recipe: it has no get_config(arg=None)")
  return module


def _split_spec(spec: str) -> tuple[str, str | None]:
  path, sep, variant = spec.partition(":")
  return path, (variant if sep else None)


def load_recipe(spec: str) -> ml_collections.ConfigDict:
  """`configs/NAME.py[:variant]` or a `config.json` -> a locked ConfigDict."""
  path, variant = _split_spec(spec)
  if path.endswith(".json"):
    if variant is not None:
      raise errors.ConfigError(f"--config={spec}: a config.json takes no variant")
    return load_json(path)
  module = _load_recipe(path)
  try:
    config = module.get_config(variant)
  except ValueError as e:  # configs.common.parse_arg: an unknown variant key or value
    raise errors.ConfigError(f"--config={spec}: {e}") from None
  config.lock()
  return config


# --- Overrides --------------------------------------------------------------------

# The group of a population's per-member values (configs/common.py, jaxgan/population.py).
_SWEEP = "population.sweep."


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


def _node_and_leaf(config, key: str, flag: str):
  node = config
  parts = key.split(".")
  for depth, part in enumerate(parts):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      if key.startswith(_SWEEP) and depth >= 2:
        raise errors.ConfigError(static_sweep_message(config, key, flag))
      known = sorted(flatten(to_json(config)))
      close = difflib.get_close_matches(key, known, n=1)
      hint = f"; did you mean {close[0]}?" if close else ""
      raise errors.ConfigError(f"unknown config key in {flag}{hint}")
    if depth < len(parts) - 1:
      node = node[part]
  if isinstance(node[parts[-1]], ml_collections.ConfigDict):
    raise errors.ConfigError(f"{flag}: {key} is a group of keys; set one of its keys")
  return node, parts[-1]


def _value_type(node, leaf):
  value = node[leaf]
  if value is None:  # a placeholder: its declared type, if it has one
    return node.get_ref(leaf).get_type()
  return type(value)


def parse_value(text: str, kind, flag: str):
  """Parses the text of `flag` as a value of type `kind` (None: any literal)."""
  if text.strip().lower() == "none" and kind is not bool:
    return None
  try:
    if kind is bool:
      if text.strip().lower() in _TRUE:
        return True
      if text.strip().lower() in _FALSE:
        return False
      raise ValueError
    if kind is int:
      return int(text)
    if kind is float:
      return float(text)
    if kind is str:
      return text
    if kind in (tuple, list):
      value = ast.literal_eval(text)
      if not isinstance(value, (tuple, list)):
        value = (value,)
      return tuple(value) if kind is tuple else list(value)
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    what = {bool: "true or false", int: "an integer", float: "a number",
            tuple: "a tuple such as (256,256)", list: "a list such as [1,2]"}.get(
                kind, "a Python literal")
    raise errors.ConfigError(f"bad value in {flag}: expected {what}") from None


def apply_overrides(config, overrides) -> list[str]:
  """Sets `key=text` pairs (from --config.KEY=TEXT) on `config`; returns the keys set."""
  keys = []
  for key, text in overrides:
    flag = f"--config.{key}={text}"
    node, leaf = _node_and_leaf(config, key, flag)
    value = parse_value(text, _value_type(node, leaf), flag)
    try:
      node[leaf] = value
    except TypeError as e:
      raise errors.ConfigError(f"bad value in {flag}: {e}") from None
    keys.append(key)
  return keys


def split_overrides(argv):
  """(argv without --config.KEY[=VALUE] flags, [(KEY, VALUE), ...])."""
  rest, overrides = [], []
  args = list(argv)
  i = 0
  while i < len(args):
    arg = args[i]
    if arg.startswith("--config."):
      key, sep, value = arg[len("--config."):].partition("=")
      if not sep:
        if i + 1 >= len(args):
          raise errors.ConfigError(f"{arg} needs a value: {arg}=VALUE")
        i += 1
        value = args[i]
      overrides.append((key, value))
    else:
      rest.append(arg)
    i += 1
  return rest, overrides


def _format_scalar(value) -> str:
  if isinstance(value, (list, tuple)):
    inner = ",".join(_format_scalar(v) for v in value)
    return f"({inner},)" if len(value) == 1 else f"({inner})"
  if isinstance(value, str):
    return value
  return repr(value)


def override_flag(key: str, value) -> str:
  """`--config.KEY=VALUE` that `load` parses back to `value` (shell-quoted if needed)."""
  return shlex.quote(f"--config.{key}={_format_scalar(value)}")


# --- What a command line means ------------------------------------------------------


def _dataset_warning(spec: str, config, overridden) -> str | None:
  """A warning when --config.dataset.name keeps another dataset's recipe defaults."""
  path, variant = _split_spec(spec)
  if "dataset.name" not in overridden or path.endswith(".json"):
    return None
  items = [i for i in (variant or "").split(",") if i.strip()]
  items = [i for i in items if not i.strip().startswith("dataset=")]
  items.append(f"dataset={config.dataset.name}")
  new_variant = ",".join(items)
  try:
    recipe = _load_recipe(path).get_config(new_variant)
  except ValueError:  # that dataset is not a variant of this recipe
    return None
  ours, theirs = flatten(to_json(config)), flatten(to_json(recipe))
  differ = [k for k in sorted(ours) if k in theirs and ours[k] != theirs[k]
            and k not in overridden and not k.startswith("log.")]
  if not differ:
    return None
  shown = ", ".join(f"{k} {ours[k]!r} (recipe: {theirs[k]!r})" for k in differ[:6])
  more = f" and {len(differ) - 6} more" if len(differ) > 6 else ""
  return (f"--config.dataset.name={config.dataset.name} keeps settings made for another "
          f"dataset: {shown}{more}; for this dataset's recipe use "
          f"--config={path}:{new_variant}")


def load(spec: str, overrides=()) -> tuple[ml_collections.ConfigDict, list[str]]:
  """The config a command line asks for, and warnings to show the user."""
  config = load_recipe(spec)
  overridden = apply_overrides(config, overrides)
  warning = _dataset_warning(spec, config, overridden)
  return config, [warning] if warning else []


def usage(doc: str, flags_help: str, configs_dir: str) -> str:
  """launch.py --help: what it does, the recipes and their variants, the flags."""
  return "\n".join([doc.strip(), "", recipes_help(configs_dir), "", "Flags:", flags_help])


def recipes_help(configs_dir: str) -> str:
  """The recipes in `configs_dir` with their variants (each recipe's VARIANTS), for --help."""
  common = load_module(os.path.join(configs_dir, "common.py"))
  lines = ["Recipes (--config=configs/NAME.py[:key=value,...]; first value = default):"]
  for name in sorted(os.listdir(configs_dir)):
    if not name.endswith(".py") or name in ("__init__.py", "common.py"):
      continue
    module = _load_recipe(os.path.join(configs_dir, name))
    doc = (module.__doc__ or "").strip().splitlines()
    lines.append(f"  configs/{name}: {doc[0] if doc else ''}")
    lines.append(f"      {common.describe_variants(module.VARIANTS)}")
  lines.append("Any config value: --config.KEY=VALUE, e.g. --config.train.n_critic=3.")
  return "\n".join(lines)
