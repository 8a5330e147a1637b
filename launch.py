"""jaxgan: train, sample or evaluate a GAN (python launch.py --help; README.md).

  python launch.py --config=configs/wgan_gp.py --workdir=runs/wgan_gp
  python launch.py --mode=sample --workdir=runs/wgan_gp [--step=N] [--class=K]
  python launch.py --mode=eval --workdir=runs/wgan_gp [--step=N]
  python launch.py --mode=sample --workdir=runs/wgan_gp --interpolate=8   # latent walks
  python launch.py --mode=export --workdir=runs/gp8 --member=3 --to=runs/gp8_m3  # populations
  python launch.py --mode=export --workdir=runs/wgan_gp --format=stablehlo --to=DIR  # jax.export

Every mode holds the lock of the workdir it writes (jaxgan/lock.py) while it runs.
Started by srun, mpirun or on every worker of a TPU pod, the same command joins the
job (jaxgan/cluster.py; README "Clusters").
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ INFO lines say nothing here

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from jaxgan import config_io  # noqa: E402
from jaxgan import errors  # noqa: E402
from jaxgan import interrupt  # noqa: E402

FLAGS = flags.FLAGS
config_io.define_flag(FLAGS)  # --config=RECIPE[:variant] or a run's config.json, --config.KEY=V
flags.DEFINE_string("workdir", None, "Run directory (config, checkpoints, samples, metrics).")
flags.DEFINE_enum("mode", "train", ["train", "sample", "eval", "export"], "What to do.")
flags.DEFINE_integer("step", None, "Checkpoint step to restore (default: latest).")
flags.DEFINE_integer("class", None, "--mode=sample of a conditional run: this class only.")
flags.DEFINE_integer("member", None, "A population's member for --mode=sample/eval/export.")
flags.DEFINE_string("to", None, "--mode=export's output directory (a new workdir for "
                    "--format=workdir).")
flags.DEFINE_enum("format", "workdir", ["workdir", "stablehlo"],
                  "--mode=export: workdir (a population's --member as its own run) or "
                  "stablehlo (the generator as a jax.export artifact).")
flags.DEFINE_integer("interpolate", None, "--mode=sample: an interpolation grid of this "
                     "many columns (slerp between fixed latents) instead of the grids.",
                     lower_bound=2)
flags.DEFINE_bool("allow_config_change", False, "Continue a run whose config.json differs.")
flags.DEFINE_enum("cluster", "auto", ["auto", "none"],
                  "auto: join the job a launcher started (srun, mpirun, a TPU pod); "
                  "none: one process whatever the environment says.")
flags.DEFINE_string("coordinator_address", None,
                    "HOST:PORT of process 0 (default: from the launcher's environment).")
flags.DEFINE_integer("num_processes", None, "Processes in the job (default: the launcher's).")
flags.DEFINE_integer("process_id", None, "This process's index in [0, num_processes).")
flags.DEFINE_float("join_timeout", 300, "Seconds to wait for every process to join "
                   "(jax.distributed's own default).")
flags.DEFINE_float("heartbeat_timeout", 60, "Seconds of silence after which a process "
                   "counts as lost and the others stop (exit 75).")
flags.DEFINE_string("jax_cache_dir", "~/.cache/jaxgan/xla",
                    "Persistent XLA compilation cache ('' disables it).")
flags.mark_flag_as_required("workdir")
RUN_OVERRIDES = []  # (key, text) of --config.KEY=TEXT without --config: the run's own


def main(argv):
  del argv
  try:
    from jaxgan import cli  # pylint: disable=g-import-not-at-top  (imports JAX: inside try)
    cli.check_mode_flags(FLAGS.mode, FLAGS.format, FLAGS.interpolate)
    cli.setup_process(dict(address=FLAGS.coordinator_address,
                           num_processes=FLAGS.num_processes, process_id=FLAGS.process_id,
                           cluster=FLAGS.cluster), FLAGS.jax_cache_dir,
                      join_timeout=FLAGS.join_timeout, heartbeat_timeout=FLAGS.heartbeat_timeout,
                      verbose=FLAGS["verbosity"].present)
    config = cli.resolve_config(FLAGS.mode, FLAGS["config"], RUN_OVERRIDES, FLAGS.workdir,
                                allow_config_change=FLAGS.allow_config_change)
    import jax  # pylint: disable=g-import-not-at-top
    from jaxgan import lock  # pylint: disable=g-import-not-at-top
    written = FLAGS.to if FLAGS.mode == "export" else FLAGS.workdir
    interrupt.raise_if_swallowed()
    with lock.hold(written, FLAGS.mode, primary=jax.process_index() == 0):
      run_mode(config)
    from jaxgan import cluster  # pylint: disable=g-import-not-at-top
    cluster.finished()  # done, not lost, for the job's other processes
  except errors.UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(e.exit_code)
  except KeyboardInterrupt:
    print("interrupted; checkpoints already saved are kept", file=sys.stderr)
    sys.exit(130)


def run_mode(config):
  """The one library call of --mode (under the workdir's lock)."""
  from jaxgan import cli  # pylint: disable=g-import-not-at-top
  if FLAGS.mode == "train":
    cli.train(config, FLAGS.workdir, allow_config_change=FLAGS.allow_config_change)
  elif FLAGS.mode == "sample":
    cli.sample(config, FLAGS.workdir, FLAGS.step, class_id=FLAGS["class"].value,
               member=FLAGS.member, interpolate=FLAGS.interpolate)
  elif FLAGS.mode == "export":
    cli.export(config, FLAGS.workdir, FLAGS.step, FLAGS.member, FLAGS.to, FLAGS.format)
  else:
    cli.evaluate(config, FLAGS.workdir, FLAGS.step, FLAGS.member)


def parse_flags(argv):
  """absl flags, --config through config_flags; a bad flag is one line, exit 2.

  Without --config (--mode=sample/eval/export of a run), --config.KEY=VALUE flags
  override the run's own config.json, which cli.resolve_config reads.
  """
  try:
    if any(arg in ("-h", "--help", "--helpshort", "--helpfull") for arg in argv[1:]):
      configs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
      print("\n".join([__doc__.strip(), "", config_io.recipes_help(configs), "", "Flags:",
                       FLAGS.main_module_help(), FLAGS.module_help(config_io)]))
      sys.exit(0)
    argv, RUN_OVERRIDES[:] = config_io.split_run_overrides(argv)
    sys.argv[:] = argv  # config_flags checks the order in sys.argv itself
    return config_io.parse(FLAGS, argv)
  except (flags.Error, errors.UserError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:  # loading a recipe imports JAX: it takes a while
    print("interrupted; checkpoints already saved are kept", file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
  interrupt.install()  # Ctrl-C during start-up: jaxgan/interrupt.py
  app.run(main, flags_parser=parse_flags)
