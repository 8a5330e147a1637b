"""jaxgan entry point: parse flags, set up the process, call the library.

    python launch.py --config=configs/wgan_gp.py --workdir=runs/wgan_gp
    python launch.py --config=configs/wgan_gp.py --workdir=runs/wgan_gp --mode=sample
    python launch.py --config=configs/wgan_gp.py:dataset=25gaussians --workdir=runs/g25 \
        --config.train.n_critic=3

--mode=train resumes from the newest checkpoint in --workdir when there is one.
--mode=sample restores the latest checkpoint (or --step=N) and writes
WORKDIR/samples/step_N.{png,npy}.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Recipe file, e.g. configs/wgan_gp.py[:variant].",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Run directory (config, checkpoints, samples, metrics).")
flags.DEFINE_enum("mode", "train", ["train", "sample"], "What to do with the workdir.")
flags.DEFINE_integer("step", None, "Checkpoint step for --mode=sample (default: latest).")
flags.mark_flags_as_required(["config", "workdir"])


def _fail(message: str) -> None:
  """One line on stderr, exit status 2: a usage error, nothing was written."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments {argv[1:]}")
  # TensorFlow is only the input pipeline: keep it off any GPU so JAX gets the memory.
  import tensorflow as tf
  tf.config.set_visible_devices([], "GPU")
  import jax
  from jaxgan import checkpoint, factory, loop

  logging.info("process %d of %d; local devices %s", jax.process_index(),
               jax.process_count(), jax.local_devices())
  config = FLAGS.config
  try:
    if FLAGS.mode == "train":
      loop.train_and_evaluate(config, FLAGS.workdir)
    else:
      paths = loop.sample_from_checkpoint(config, FLAGS.workdir, FLAGS.step)
      print(f"step {paths['step']}: wrote {paths['png']} and {paths['npy']}")
  except (factory.ConfigError, checkpoint.NoCheckpointError) as e:
    _fail(str(e))
  except loop.NonFiniteError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(3)


if __name__ == "__main__":
  # Keep TF's C++ logging quiet; it has nothing to say to a GAN researcher.
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  app.run(main)
