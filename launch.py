"""jaxgan entry point: parse flags, set up the process, call the library.

    python launch.py --config=configs/wgan_gp.py --workdir=runs/wgan_gp
    python launch.py --config=configs/wgan_gp.py --workdir=runs/wgan_gp --mode=sample
    python launch.py --config=configs/wgan_gp.py:dataset=25gaussians --workdir=runs/g25 \
        --config.train.n_critic=3

--mode=train resumes from the newest checkpoint in --workdir when there is one.
--mode=sample restores the latest checkpoint (or --step=N) and writes
WORKDIR/samples/step_N.{png,npy}. --mode=eval restores it and writes
WORKDIR/eval/step_N.json and plots (mode coverage on the toy sets, classifier-based
metrics on labelled image datasets; jaxgan/evaluate.py).
"""

import os
import re
import sys

# Before TensorFlow can be imported: its C++ INFO lines say nothing to a GAN researcher.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import logging as py_logging

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Recipe file, e.g. configs/wgan_gp.py[:variant].",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Run directory (config, checkpoints, samples, metrics).")
flags.DEFINE_enum("mode", "train", ["train", "sample", "eval"], "What to do with the workdir.")
flags.DEFINE_integer("step", None,
                     "Checkpoint step for --mode=sample/eval (default: latest).")
flags.DEFINE_bool("allow_config_change", False,
                  "Continue a workdir whose config.json differs from --config in keys "
                  "other than train.num_steps and log.*.")
flags.DEFINE_string("coordinator_address", None,
                    "HOST:PORT of process 0 for multi-host runs (jax.distributed).")
flags.DEFINE_integer("num_processes", None, "Number of processes in a multi-host run.")
flags.DEFINE_integer("process_id", None, "This process's index in [0, num_processes).")
flags.DEFINE_string("cpu_collectives", "gloo",
                    "Cross-process collectives on CPU (jax_cpu_collectives_implementation).")
flags.DEFINE_string("jax_cache_dir", os.path.join("~", ".cache", "jaxgan", "xla"),
                    "Persistent XLA compilation cache, so a resumed or repeated run skips "
                    "compilation; '' disables it.")
flags.mark_flags_as_required(["config", "workdir"])


def _fail(message: str) -> None:
  """One line on stderr, exit status 2: a usage error, nothing was written."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def _setup_logging() -> None:
  """jaxgan's progress lines on stdout; libraries (orbax, TF) only from WARNING up."""
  handler = py_logging.StreamHandler(sys.stdout)
  handler.setFormatter(py_logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
  logger = py_logging.getLogger("jaxgan")
  logger.addHandler(handler)
  logger.setLevel(py_logging.INFO)
  logger.propagate = False
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments {argv[1:]}")
  distributed = FLAGS.coordinator_address is not None
  if distributed:
    # Checked before anything touches a device, so a typo costs one line.
    if FLAGS.num_processes is None or FLAGS.num_processes < 1:
      _fail(f"--num_processes must be >= 1 with --coordinator_address, got "
            f"{FLAGS.num_processes}")
    if FLAGS.process_id is None or not 0 <= FLAGS.process_id < FLAGS.num_processes:
      _fail(f"--process_id must be in [0, {FLAGS.num_processes}), got {FLAGS.process_id}")
  elif FLAGS.num_processes is not None or FLAGS.process_id is not None:
    _fail("--num_processes/--process_id need --coordinator_address=HOST:PORT")
  # TensorFlow is only the input pipeline, imported (with GPUs hidden from it, so
  # JAX keeps the accelerator memory) by jaxgan.data when an image dataset needs it;
  # toy runs never pay its ~5 s import.
  import jax
  if FLAGS.jax_cache_dir and not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    jax.config.update("jax_compilation_cache_dir", os.path.expanduser(FLAGS.jax_cache_dir))
  if distributed:
    # Must precede any use of a device. On CPU, cross-process collectives need gloo.
    jax.config.update("jax_cpu_collectives_implementation", FLAGS.cpu_collectives)
    jax.distributed.initialize(coordinator_address=FLAGS.coordinator_address,
                               num_processes=FLAGS.num_processes,
                               process_id=FLAGS.process_id)
  from jaxgan import checkpoint, factory, loop

  _setup_logging()
  py_logging.getLogger("jaxgan").info("process %d of %d; local devices %s", jax.process_index(),
               jax.process_count(), jax.local_devices())
  config = FLAGS.config
  try:
    if FLAGS.mode == "train":
      loop.train_and_evaluate(config, FLAGS.workdir,
                              allow_config_change=FLAGS.allow_config_change)
    elif FLAGS.mode == "sample":
      paths = loop.sample_from_checkpoint(config, FLAGS.workdir, FLAGS.step,
                                          allow_config_change=FLAGS.allow_config_change)
      print(f"step {paths['step']}: wrote {paths['png']} and {paths['npy']}")
    else:
      from jaxgan import evaluate  # pylint: disable=g-import-not-at-top
      result = loop.evaluate_from_checkpoint(config, FLAGS.workdir, FLAGS.step,
                                             allow_config_change=FLAGS.allow_config_change)
      print(f"step {result['step']}: {evaluate.summary_line(result)}")
      print(f"wrote {result['path']} and {', '.join(result['plots'])}")
  except (factory.ConfigError, checkpoint.NoCheckpointError,
          checkpoint.CorruptCheckpointError) as e:
    _fail(str(e))
  except loop.NonFiniteError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(3)
  # Everything is on disk (the loop waited for orbax). Skip interpreter teardown:
  # destroying a long-lived tf.data iterator blocked exit for ~40 s after a
  # 10,000-step digits run (TF's iterator destructor waits on a background thread).
  sys.stdout.flush()
  sys.stderr.flush()
  py_logging.shutdown()
  os._exit(0)


def _chain(error: BaseException):
  while error is not None:
    yield error
    error = error.__cause__ or error.__context__


def _one_line(text: str) -> str:
  return " ".join(text.replace("\\n", " ").split())


def _flag_error_message(error: BaseException, argv) -> str:
  """One line naming what was wrong: the flag and the innermost cause."""
  chain = list(_chain(error))
  missing = re.search(r"No such file or directory: '([^']+)'", str(chain[-1]))
  if missing:
    return f"config file not found: {missing.group(1)}"
  root = chain[-1]
  root_text = _one_line(str(root.args[0]) if root.args else str(root)).strip("'\"")
  if isinstance(root, (KeyError, AttributeError)):
    # An override of a key the config does not have: name the argument.
    hint = next((m.group(0) for e in chain
                 for m in [re.search(r'Did you mean "[^"]+" instead of "[^"]+"\?', str(e))]
                 if m), "")
    arg = next((a for a in argv if a.startswith("--config.") and
                root_text in a.split("=")[0].split(".")), None)
    if arg is not None:
      return _one_line(f"unknown config key in {arg}. {hint}")
  top = str(error).splitlines()[0] if str(error) else ""
  if top and not top.rstrip().endswith(":") and top != root_text:
    return _one_line(f"{top.rstrip('.')}" + ("" if root_text in top else f": {root_text}"))
  return root_text


def _parse_flags(argv):
  """absl flag parsing, but a bad flag, override, variant or config file is one line, exit 2."""
  try:
    argv = FLAGS(argv)
    FLAGS.config.to_dict()  # config_flags defers file-load errors to first attribute access
  except (flags.Error, AttributeError, KeyError, ValueError, TypeError, OSError) as e:
    _fail(_flag_error_message(e, argv))
  return argv


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
