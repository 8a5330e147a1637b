"""jaxgan: train, sample or evaluate a GAN (python launch.py --help; README.md).

  python launch.py --config=configs/wgan_gp.py --workdir=runs/wgan_gp
  python launch.py --mode=sample --workdir=runs/wgan_gp [--step=N] [--class=K]
  python launch.py --mode=eval --workdir=runs/wgan_gp [--step=N]
  python launch.py --mode=sample --workdir=runs/wgan_gp --interpolate=8   # latent walks
  python launch.py --mode=export --workdir=runs/gp8 --member=3 --to=runs/gp8_m3  # populations
  python launch.py --mode=export --workdir=runs/wgan_gp --format=stablehlo --to=DIR  # jax.export

Every mode holds the lock of the workdir it writes (jaxgan/lock.py) while it runs.
Started by srun, mpirun or on every worker of a TPU pod, the same command joins the
job (jaxgan/cluster.py; docs/scaling.md).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ INFO lines say nothing here

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from jaxgan import command_line  # noqa: E402
from jaxgan import errors  # noqa: E402
from jaxgan import interrupt  # noqa: E402

FLAGS = command_line.define_flags(flags.FLAGS)


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
    config = cli.resolve_config(FLAGS.mode, FLAGS["config"], command_line.run_overrides, FLAGS.workdir,
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
  configs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
  return command_line.parse(argv, usage=__doc__, configs_dir=configs)


if __name__ == "__main__":
  interrupt.install()  # Ctrl-C during start-up: jaxgan/interrupt.py
  app.run(main, flags_parser=parse_flags)
