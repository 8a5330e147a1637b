"""Data parallelism on forced CPU devices: pmap gives the single-device
trajectory (device-count invariance) and identical replicas."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_worker(devices, recipe, variant, steps=4):
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, "tests", "parallel_worker.py"), ROOT, recipe,
       variant, str(steps)], env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("recipe,variant", [
    ("wgan_gp", "dataset=8gaussians"),
    ("wgan_gp", "dataset=digits,arch=dcgan"),  # generator BatchNorm synced over devices
    ("dragan", "dataset=digits,arch=dcgan"),   # std(x) over the global batch
])
def test_pmap_over_4_devices_matches_one_device(recipe, variant):
  out = _run_worker(4, recipe, variant)
  assert out["devices"] == 4
  assert out["replicas_identical"]
  assert out["max_rel_diff"] < 1e-5, out


def test_toy_shards_of_two_processes_are_disjoint_halves_of_the_global_batch():
  import ml_collections
  import numpy as np
  from jaxgan import data
  cfg = ml_collections.ConfigDict(dict(name="25gaussians", data_dir="", path="",
                                       image_size=0, shuffle_buffer=1))
  whole = next(data.make_iterator(cfg, global_batch_size=8, n_critic=2, seed=3))
  halves = [next(data.make_iterator(cfg, global_batch_size=8, n_critic=2, seed=3,
                                    process_index=i, process_count=2)) for i in range(2)]
  np.testing.assert_array_equal(np.concatenate(halves, axis=1), whole)
  per_device = next(data.make_iterator(cfg, global_batch_size=8, n_critic=2, seed=3,
                                       num_local_devices=4))
  assert per_device.shape == (4, 2, 2, 2)
  np.testing.assert_array_equal(per_device[1], whole[:, 2:4])
