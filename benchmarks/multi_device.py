"""Multi-device step throughput: the same global batch on a mesh of 1 device and
of N forced CPU devices (jaxgan.mesh: one jit, the batch sharded over "data").

    python benchmarks/multi_device.py [--devices 4]

On a 2-core CPU, N forced devices share the same two cores, so this shows the
overhead of the data-parallel step (collectives, per-device dispatch), never a
speed-up; on real accelerators each device brings its own compute. Each setting
runs in its own subprocess because the device count is fixed when JAX starts.
Prints one JSON object per setting.
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER = r"""
import functools, json, sys, time
sys.path.insert(0, {root!r})
import jax, numpy as np
from configs import wgan_gp
from jaxgan import factory, mesh, rng, train, validation
config = wgan_gp.get_config({variant!r})
shape = validation.validate(config)
n = jax.local_device_count()
spec = factory.make_step_spec(config, shape)
m = mesh.make_mesh()
state = mesh.put_replicated(train.init_state(spec, rng.run_key(0), shape), m)
b, k = config.train.batch_size, config.train.n_critic
real = np.tanh(np.random.default_rng(0).normal(size=(k, b) + shape)).astype(np.float32)
real = mesh.global_batch(real, m)
step = mesh.compile_step(spec, m, state, real)
t = time.perf_counter(); state, m = step(state, real); jax.block_until_ready(m)
compile_s = time.perf_counter() - t
times = []
for _ in range(3):
  t = time.perf_counter()
  for _ in range({calls}):
    state, m = step(state, real)
  jax.block_until_ready(m)
  times.append((time.perf_counter() - t) / {calls})
sec = float(np.median(times))
print(json.dumps({{"variant": {variant!r}, "devices": n, "generator_it_per_s": round(1 / sec, 3),
                  "examples_per_s": round(b * k / sec, 1), "compile_s": round(compile_s, 2)}}))
"""


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--devices", type=int, default=4)
  args = parser.parse_args()
  for variant, calls in (("dataset=25gaussians", 10), ("dataset=cifar10", 2)):
    for devices in (1, args.devices):
      env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
                 JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
      code = WORKER.format(root=ROOT, variant=variant, calls=calls)
      out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=900)
      print(out.stdout.strip().splitlines()[-1] if out.returncode == 0 else
            json.dumps({"variant": variant, "devices": devices, "error": out.stderr[-500:]}),
            flush=True)


if __name__ == "__main__":
  main()
