"""The jvp and double_backward penalties agree (value and parameter gradient, float64)
on every critic architecture jaxgan ships, at every supported image size."""

import jax
from jax.flatten_util import ravel_pytree
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import penalties
from jaxgan.models import dcgan, mlp

CRITICS = [
    ("mlp_toy", mlp.MLPCritic(hidden=(16, 16, 16)), (2,)),
    ("mlp_digits", mlp.MLPCritic(hidden=(16, 16, 16)), (8, 8, 1)),
] + [
    (f"dcgan{size}_{norm}", dcgan.DCGANCritic(image_size=size, width=4, norm=norm),
     (size, size, channels))
    for size, channels in ((8, 1), (14, 1), (16, 3), (28, 1), (32, 3), (64, 3))
    for norm in dcgan.CRITIC_NORMS
]


@pytest.mark.parametrize("name,critic,shape", CRITICS, ids=[c[0] for c in CRITICS])
def test_jvp_and_double_backward_give_the_same_parameter_gradient(name, critic, shape):
  del name
  with jax.enable_x64(True):
    x = jax.random.normal(jax.random.PRNGKey(0), (3,) + shape, jnp.float64)
    params = critic.init(jax.random.PRNGKey(1), x)["params"]
    params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
    out = {}
    for method in penalties.PENALTY_METHODS:
      def loss(p, method=method):
        return penalties.gradient_penalty(lambda y: critic.apply({"params": p}, y), x,
                                          method=method)[0]
      value, grads = jax.value_and_grad(loss)(params)
      out[method] = (float(value), ravel_pytree(grads)[0])
  (v1, g1), (v2, g2) = out["double_backward"], out["jvp"]
  np.testing.assert_allclose(v2, v1, rtol=1e-10)
  assert np.linalg.norm(g1) > 0
  np.testing.assert_allclose(g2, g1, rtol=1e-6, atol=1e-9 * np.abs(g1).max())
