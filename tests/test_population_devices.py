"""A population on 4 forced CPU devices trains as the same population on 1: members
split along the "population" mesh axis (each device holding whole members), the
batch along "data" when members do not fill the devices."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_worker(recipe, variant, members, method, devices=4):
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, "tests", "population_worker.py"), ROOT, recipe,
       variant, str(members), method], env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["map", "vmap", "unroll"])
def test_four_members_on_four_devices_train_as_on_one(method):
  out = _run_worker("wgan_gp", "dataset=8gaussians", 4, method)
  assert out["mesh"] == {"population": 4, "data": 1}
  # One member per device: each holds a [1, ...] slice of every state leaf.
  assert out["state_shard_shapes"] == [[1] + out["full_kernel_shape"][1:]]
  assert out["batch_shard_shapes"] == [[1, 5, 16, 2]]
  if method != "vmap":  # each device runs its member as one device runs each of four
    assert out["max_rel_diff"] == 0.0, out
  else:  # vmap over 1 member vs over 4 may round differently
    assert out["max_rel_diff"] < 1e-6, out


@pytest.mark.slow
def test_two_members_on_four_devices_also_split_the_batch():
  # Generator BatchNorm and DRAGAN's std(x) over each member's global batch: the
  # all-reduces over "data" may sum in another order (measured ~6e-6 after 3 steps).
  out = _run_worker("dragan", "dataset=digits,arch=dcgan", 2, "vmap")
  assert out["mesh"] == {"population": 2, "data": 2}
  assert out["batch_shard_shapes"] == [[1, 1, 8, 8, 8, 1]]
  assert out["max_rel_diff"] < 1e-4, out
