"""What launch.py calls: process set-up, the config of a command line, one call per mode.

`resolve_config(mode, config_flag, overrides, workdir)` decides which config a command
means. Training needs --config. Sampling and evaluation default to the run's own
config.json, with overrides only of keys that cannot change what the checkpoint
means (log.*, eval.*); with an explicit --config, it must match the run's.
"""

from __future__ import annotations

import logging
import os
import sys

from absl import logging as absl_logging

from jaxgan import config_io
from jaxgan import errors
from jaxgan import quiet
from jaxgan import workdir as workdir_lib

# Keys that may be overridden on top of a run's own config.json (sample / eval / export).
RESTORE_OVERRIDABLE = ("log.", "eval.", "population.best_metric")

logger = logging.getLogger("jaxgan")


def resolve_config(mode: str, config_flag, overrides, workdir: str, *,
                   allow_config_change: bool = False):
  """The config for `mode`; logs warnings about it. Raises errors.UserError.

  `config_flag` is launch.py's --config (value None when not given); `overrides`
  are (KEY, TEXT) pairs for the run's own config.json, given without --config.
  """
  wd = workdir_lib.Workdir(workdir)
  if mode != "train":
    wd.check_readable_run()
  if config_flag.value is None:
    if mode == "train":
      raise errors.ConfigError("--mode=train needs --config, e.g. "
                               "--config=configs/wgan_gp.py (see --help)")
    config = wd.read_config()
    bad = [k for k, _ in overrides if not k.startswith(RESTORE_OVERRIDABLE)]
    if bad:
      raise errors.ConfigError(
          f"--config.{bad[0]} would change what the checkpoint means; with the run's own "
          f"config only {', '.join(p + '*' for p in RESTORE_OVERRIDABLE)} may be "
          f"overridden (or pass --config explicitly)")
    return config_io.apply_overrides(config, overrides)
  config = config_flag.value
  for warning in config_io.dataset_warnings(config_flag):
    logger.warning("WARNING: %s", warning)
  if mode != "train":
    wd.check_config(config, allow_change=allow_config_change, training=False)
  return config


def setup_logging(process_index: int, process_count: int, verbose: bool) -> None:
  """jaxgan's lines on stdout (prefixed by the process in multi-process runs);
  third-party libraries only from ERROR up unless `verbose`, which also shows
  jaxgan's DEBUG lines (e.g. every key an old config.json was given)."""
  prefix = f"[p{process_index}] " if process_count > 1 else ""
  handler = logging.StreamHandler(sys.stdout)
  handler.setFormatter(logging.Formatter(f"%(asctime)s {prefix}%(message)s", "%H:%M:%S"))
  jaxgan_logger = logging.getLogger("jaxgan")
  jaxgan_logger.handlers[:] = [handler]
  jaxgan_logger.setLevel(logging.DEBUG if verbose else logging.INFO)
  jaxgan_logger.propagate = False
  if not verbose:
    absl_logging.set_verbosity(absl_logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)


def setup_process(job_flags: dict, jax_cache_dir: str, *, join_timeout: float,
                  heartbeat_timeout: float, verbose: bool) -> None:
  """Compilation cache, the job (jaxgan/cluster.py: a launcher's environment or the
  --coordinator_address/--num_processes/--process_id flags; none: one process), logging.

  `job_flags`: address, num_processes, process_id (None when not given) and cluster
  ("auto" or "none"). The flags and environment are checked before any device is used.
  """
  from jaxgan import cluster  # pylint: disable=g-import-not-at-top
  job = cluster.detect(os.environ, **job_flags)  # a ConfigError before JAX starts
  if not verbose:  # before JAX looks for backends and logs what it did not find
    absl_logging.set_verbosity(absl_logging.ERROR)
  import jax  # pylint: disable=g-import-not-at-top
  if jax_cache_dir and not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    jax.config.update("jax_compilation_cache_dir", os.path.expanduser(jax_cache_dir))
  if job_flags["cluster"] == "auto" and job.environment == "none":
    from jax._src import cloud_tpu_init  # pylint: disable=g-import-not-at-top
    if cloud_tpu_init.running_in_cloud_tpu_vm:  # jax reads a pod's workers from the VM
      job = cluster.detect(os.environ, **job_flags, tpu_vm=True)
  cluster.join(job, join_timeout=join_timeout, heartbeat_timeout=heartbeat_timeout)
  if job.joins and not verbose:
    quiet.native_stdout_off()
  setup_logging(jax.process_index(), jax.process_count(), verbose)
  logger.info("%s; devices: %d local of %d (%s)%s", cluster.describe(job),
              jax.local_device_count(), jax.device_count(), jax.default_backend(),
              _cpu_flags_note())


def _cpu_flags_note() -> str:
  """'; XLA:CPU flags ...' for the start line when the backend is the CPU."""
  import jax  # pylint: disable=g-import-not-at-top
  from jaxgan import xla_cpu  # pylint: disable=g-import-not-at-top
  flags = xla_cpu.in_effect()
  return f"; XLA:CPU flags {flags}" if flags and jax.default_backend() == "cpu" else ""


def train(config, workdir: str, *, allow_config_change: bool) -> None:
  from jaxgan import loop  # pylint: disable=g-import-not-at-top
  loop.train_and_evaluate(config, workdir, allow_config_change=allow_config_change)


# --mode=export's --format: what it writes.
EXPORT_FORMATS = {
    "workdir": "a population's member as its own run's workdir (--member=i)",
    "stablehlo": "the generator as a jax.export artifact, loadable with jax alone",
}


def check_mode_flags(mode: str, export_format: str, interpolate) -> None:
  """Flags that belong to another mode are refused before anything is loaded."""
  if export_format != "workdir" and mode != "export":
    raise errors.ConfigError(f"--format={export_format} is for --mode=export, not "
                             f"--mode={mode}")
  if interpolate is not None and mode != "sample":
    raise errors.ConfigError(f"--interpolate is for --mode=sample, not --mode={mode}")


def sample(config, workdir: str, step, *, class_id: int | None = None, member=None,
           interpolate: int = 0) -> None:
  from jaxgan import restore  # pylint: disable=g-import-not-at-top
  out = restore.sample_from_checkpoint(config, workdir, step, class_id=class_id, member=member,
                                       interpolate=interpolate or 0)
  step = out["step"]
  for m, written in out["written"]:
    who = f"{m.name}, " if m.name else ""
    for label, paths in written.items():
      print(f"step {step} ({who}{label} generator): wrote {paths['png']} and {paths['npy']}")
  if out["picture"] is not None:
    print(f"step {step}: wrote {out['picture']} (one picture, a row or panel per member)")


def evaluate(config, workdir: str, step, member=None) -> None:
  from jaxgan import restore  # pylint: disable=g-import-not-at-top
  result = restore.evaluate_from_checkpoint(config, workdir, step, member=member)
  line, written = result["report"]
  print(f"step {result['step']}: {line}")
  print(f"wrote {written[0]} and {', '.join(written[1:])}")


def export(config, workdir: str, step, member, to, export_format: str = "workdir") -> None:
  from jaxgan import generator  # pylint: disable=g-import-not-at-top
  from jaxgan import restore  # pylint: disable=g-import-not-at-top
  if not to:
    raise errors.ConfigError(f"--mode=export needs --to=DIR (where to write "
                             f"{EXPORT_FORMATS[export_format].split(',')[0]})")
  if export_format == "stablehlo":
    out = generator.export_generator(config, workdir, to, step, member)
    g = out["generator"]
    who = f", member {g.member}" if g.member is not None else ""
    print(f"exported the {'EMA' if g.ema else 'raw'} generator at step {g.step}{who} to "
          f"{out['stablehlo']} and {out['json']}; load it with jax.export.deserialize "
          f"(the JSON's how_to_call)")
    return
  out = restore.export_member(config, workdir, member, to, step)
  frozen = (f"; it diverged at step {out['diverged_at']}, so this is its last finite "
            f"state" if out["diverged_at"] else "")
  print(f"exported {out['member'].describe()} at step {out['step']} to {out['workdir']}"
        f"{frozen}; sample, evaluate or resume it like any run: --workdir={out['workdir']}")
