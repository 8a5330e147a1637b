"""The step on a device mesh: 4 forced CPU devices compute what 1 device does
(gradients, generator BatchNorm statistics and DRAGAN's std(x) over the global
batch), the batch is split over the devices, the state stays replicated; and a
batch that does not split over the devices is refused before anything runs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxgan import mesh

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_worker(devices, recipe, variant, steps=4):
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, "tests", "mesh_worker.py"), ROOT, recipe,
       variant, str(steps)], env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("recipe,variant", [
    ("wgan_gp", "dataset=8gaussians"),
    # Generator BatchNorm over the global batch, and per-example augmentation draws.
    ("wgan_gp", "dataset=digits,arch=dcgan,augment=diffaug"),
    ("dragan", "dataset=digits,arch=dcgan"),   # std(x) over the global batch
])
def test_four_devices_train_like_one(recipe, variant):
  out = _run_worker(4, recipe, variant)
  assert out["devices"] == 4
  assert [shape[1] for shape in out["batch_shard_shapes"]] == [4]  # 16 examples / 4
  assert out["replicated"]
  assert out["max_rel_diff"] < 1e-5, out


@pytest.mark.slow
def test_a_batch_that_does_not_split_over_the_devices_is_refused_naming_the_numbers():
  out = _run_worker(4, "wgan_gp", "dataset=8gaussians", steps=1)
  assert out["refusal_of_17"] == (
      "train.batch_size=17 does not split evenly over 4 devices (1 process(es) x 4 "
      "local); use a multiple of 4")


def test_one_process_global_batch_is_the_local_batch_and_round_trips():
  m = mesh.make_mesh()
  local = np.arange(2 * 8 * 3, dtype=np.float32).reshape(2, 8, 3)
  batch = mesh.global_batch(local, m)
  assert batch.sharding.is_equivalent_to(mesh.batch_sharding(m), 3)
  np.testing.assert_array_equal(np.asarray(batch), local)
  tree = {"a": np.float32(3.0), "b": np.ones((2, 2), np.int32)}
  back = mesh.to_host(mesh.put_state(tree, m))
  assert back["b"].dtype == np.int32 and float(back["a"]) == 3.0
