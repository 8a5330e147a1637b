"""jaxgan's XLA:CPU flags: added at import before the backend starts, the user's own
value kept, and in effect in the compiled program."""

import os
import subprocess
import sys

from jaxgan import xla_cpu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "xla_cpu_experimental_ynn_fusion_type"


def test_apply_adds_each_flag_after_the_users_own_flags():
  env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
  added = xla_cpu.apply(env)
  assert added == [f"--{k}={v}" for k, v in xla_cpu.FLAGS.items()]
  assert env["XLA_FLAGS"] == " ".join(["--xla_force_host_platform_device_count=4", *added])
  assert xla_cpu.apply(env) == []  # idempotent


def test_a_flag_the_user_set_keeps_the_users_value():
  env = {"XLA_FLAGS": f"--{NAME}=+individual_convolution"}
  xla_cpu.apply(env)
  assert env["XLA_FLAGS"] == f"--{NAME}=+individual_convolution"
  assert xla_cpu.in_effect(env) == f"--{NAME}=+individual_convolution"


def _convolution_library(xla_flags):
  """Which library XLA:CPU hands a convolution to in a fresh process that imports jaxgan."""
  code = ("import jaxgan, jax, jax.numpy as jnp\n"
          "x, w = jnp.ones((8, 16, 16, 32)), jnp.ones((3, 3, 32, 32))\n"
          "f = jax.jit(lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), 'SAME', "
          "dimension_numbers=('NHWC', 'HWIO', 'NHWC')))\n"
          "print('ynn' if 'ynn_fusion' in f.lower(x, w).compile().as_text() else 'xla')\n")
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
  env.pop("XLA_FLAGS", None)
  if xla_flags:
    env["XLA_FLAGS"] = xla_flags
  out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                       text=True, timeout=120, check=True)
  return out.stdout.split()[-1]


def test_importing_jaxgan_first_takes_convolutions_off_ynnpack_unless_the_user_says():
  assert _convolution_library(None) == "xla"
  # XLA's own default, restored by naming the flag: YNNPACK convolutions.
  assert _convolution_library(f"--{NAME}=+individual_convolution") == "ynn"
