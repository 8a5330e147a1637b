"""launch.py's command line: its flags and their parsing (imports no JAX).

`define_flags` declares every flag of the launcher on absl's FLAGS; `parse`
parses argv through config_io (--config=RECIPE[:variant] or a run's config.json,
--config.KEY=VALUE), prints --help, and turns a bad flag into one `error:` line,
exit 2. Without --config (--mode=sample/eval/export of a run), --config.KEY=VALUE
flags override the run's own config.json: `run_overrides` holds them for
cli.resolve_config.
"""

from __future__ import annotations

import sys

from absl import flags

from jaxgan import config_io
from jaxgan import errors

MODES = ("train", "sample", "eval", "export")
run_overrides: list = []  # (key, text) of --config.KEY=TEXT without --config: the run's own


def define_flags(flag_values=flags.FLAGS) -> flags.FlagValues:
  """The launcher's flags on `flag_values` (absl's FLAGS), which it returns."""
  config_io.define_flag(flag_values)
  kw = {"flag_values": flag_values}
  flags.DEFINE_string("workdir", None,
                      "Run directory (config, checkpoints, samples, metrics).", **kw)
  flags.DEFINE_enum("mode", "train", list(MODES), "What to do.", **kw)
  flags.DEFINE_integer("step", None, "Checkpoint step to restore (default: latest).", **kw)
  flags.DEFINE_integer("class", None, "--mode=sample of a conditional run: this class only.",
                       **kw)
  flags.DEFINE_integer("member", None, "A population's member for --mode=sample/eval/export.",
                       **kw)
  flags.DEFINE_string("to", None, "--mode=export's output directory (a new workdir for "
                      "--format=workdir).", **kw)
  flags.DEFINE_enum("format", "workdir", ["workdir", "stablehlo"],
                    "--mode=export: workdir (a population's --member as its own run) or "
                    "stablehlo (the generator as a jax.export artifact).", **kw)
  flags.DEFINE_integer("interpolate", None, "--mode=sample: an interpolation grid of this "
                       "many columns (slerp between fixed latents) instead of the grids.",
                       lower_bound=2, **kw)
  flags.DEFINE_bool("allow_config_change", False,
                    "Continue a run whose config.json differs.", **kw)
  flags.DEFINE_enum("cluster", "auto", ["auto", "none"],
                    "auto: join the job a launcher started (srun, mpirun, a TPU pod); "
                    "none: one process whatever the environment says.", **kw)
  flags.DEFINE_string("coordinator_address", None,
                      "HOST:PORT of process 0 (default: from the launcher's environment).", **kw)
  flags.DEFINE_integer("num_processes", None,
                       "Processes in the job (default: the launcher's).", **kw)
  flags.DEFINE_integer("process_id", None, "This process's index in [0, num_processes).", **kw)
  flags.DEFINE_float("join_timeout", 300, "Seconds to wait for every process to join "
                     "(jax.distributed's own default).", **kw)
  flags.DEFINE_float("heartbeat_timeout", 60, "Seconds of silence after which a process "
                     "counts as lost and the others stop (exit 75).", **kw)
  flags.DEFINE_string("jax_cache_dir", "~/.cache/jaxgan/xla",
                      "Persistent XLA compilation cache ('' disables it).", **kw)
  flags.mark_flag_as_required("workdir", flag_values=flag_values)
  return flag_values


def parse(argv, *, usage: str, configs_dir: str, flag_values=flags.FLAGS):
  """absl's flags_parser: argv -> the remaining argv; --help prints `usage`, the
  recipes in `configs_dir` and the flags, exit 0; a bad flag: one line, exit 2."""
  try:
    if any(arg in ("-h", "--help", "--helpshort", "--helpfull") for arg in argv[1:]):
      print("\n".join([usage.strip(), "", config_io.recipes_help(configs_dir), "", "Flags:",
                       flag_values.module_help(sys.modules[__name__]),
                       flag_values.module_help(config_io)]))
      sys.exit(0)
    argv, run_overrides[:] = config_io.split_run_overrides(argv)
    sys.argv[:] = argv  # config_flags checks the order in sys.argv itself
    return config_io.parse(flag_values, argv)
  except (flags.Error, errors.UserError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:  # loading a recipe imports JAX: it takes a while
    print("interrupted; checkpoints already saved are kept", file=sys.stderr)
    sys.exit(130)

