"""Spectral normalisation against numpy's SVD and a hand-written power iteration
(values, the stored u, gradients by finite differences in float64, evaluation
leaving u alone); nearest upsampling and mean pooling against closed forms."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.models import layers


class _SNLayer(nn.Module):
  """One spectrally normalised Dense or 3x3 Conv."""

  conv: bool = False

  @nn.compact
  def __call__(self, x, update_stats: bool = False):
    layer = nn.Conv(4, (3, 3), name="layer") if self.conv else nn.Dense(4, name="layer")
    return layers.maybe_spectral_norm(layer, x, spectral_norm=True, update_stats=update_stats)


def _u(variables):
  return variables[layers.SPECTRAL]["layer_sn"]["layer/kernel/u"]


def _numpy_iteration(w, u):
  """One power iteration on w [fan_in, out] from u [1, out] -> (u', v, sigma)."""
  v = u @ w.T
  v = v / np.linalg.norm(v)
  u_new = v @ w
  u_new = u_new / np.linalg.norm(u_new)
  return u_new, v, (v @ w @ u_new.T).item()


def _matrix_with_spectrum(rng, rows, cols, singular_values):
  a, _ = np.linalg.qr(rng.normal(size=(rows, rows)))
  b, _ = np.linalg.qr(rng.normal(size=(cols, cols)))
  s = np.zeros((rows, cols))
  s[np.arange(len(singular_values)), np.arange(len(singular_values))] = singular_values
  return a @ s @ b.T


@pytest.fixture(autouse=True)
def _float64():
  with jax.enable_x64(True):
    yield


def _init(module, x):
  variables = module.init(jax.random.key(0), x)
  return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), variables)


@pytest.mark.parametrize("conv", [False, True], ids=["dense", "conv3x3"])
def test_repeated_training_calls_converge_to_the_largest_singular_value(conv):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 5, 5, 3) if conv else (2, 6)))
  module = _SNLayer(conv=conv)
  variables = _init(module, x)
  fan_in = 27 if conv else 6
  # A known spectrum with a gap (ratio 0.5 per iteration): 60 iterations reach
  # the top singular value to float64 precision.
  w = _matrix_with_spectrum(rng, fan_in, 4, [3.0, 1.5, 1.0, 0.5])
  variables["params"]["layer"]["kernel"] = jnp.asarray(
      w.reshape(variables["params"]["layer"]["kernel"].shape))
  step = jax.jit(lambda v: module.apply(v, x, update_stats=True, mutable=[layers.SPECTRAL])[1])
  for _ in range(60):
    variables = {**variables, **step(variables)}
  sigma = variables[layers.SPECTRAL]["layer_sn"]["layer/kernel/sigma"]
  np.testing.assert_allclose(sigma, np.linalg.svd(w, compute_uv=False)[0], rtol=1e-12)
  # The layer then computes with W / sigma_max(W): spectral norm 1.
  if not conv:
    eye = jnp.eye(6)
    w_sn = module.apply(variables, eye) - module.apply(variables, jnp.zeros((6, 6)))
    np.testing.assert_allclose(np.linalg.svd(w_sn, compute_uv=False)[0], 1.0, rtol=1e-12)


def test_one_training_call_is_one_power_iteration_and_normalises_by_its_sigma():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(3, 5)))
  module = _SNLayer()
  variables = _init(module, x)
  w = np.asarray(variables["params"]["layer"]["kernel"])
  b = np.asarray(variables["params"]["layer"]["bias"])
  u0 = np.asarray(_u(variables))
  out, updates = module.apply(variables, x, update_stats=True, mutable=[layers.SPECTRAL])
  u1, _, sigma = _numpy_iteration(w, u0)
  np.testing.assert_allclose(_u(updates), u1, rtol=1e-12)
  np.testing.assert_allclose(out, np.asarray(x) @ (w / sigma) + b, rtol=1e-12)
  # A second call starts from the stored u1: the next iterate, not a repeat.
  _, updates2 = module.apply({**variables, **updates}, x, update_stats=True,
                             mutable=[layers.SPECTRAL])
  np.testing.assert_allclose(_u(updates2), _numpy_iteration(w, u1)[0], rtol=1e-12)


def test_evaluation_leaves_u_unchanged_and_sees_the_training_calls_sigma():
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.normal(size=(3, 4, 4, 2)))
  module = _SNLayer(conv=True)
  variables = _init(module, x)
  train_out, updates = module.apply(variables, x, update_stats=True,
                                    mutable=[layers.SPECTRAL])
  assert not np.allclose(_u(updates), _u(variables))  # training moved u
  eval_out, eval_updates = module.apply(variables, x, update_stats=False,
                                        mutable=[layers.SPECTRAL])
  for a, b in zip(jax.tree.leaves(eval_updates), jax.tree.leaves(variables[layers.SPECTRAL])):
    np.testing.assert_array_equal(a, b)
  # From the same stored u, evaluation computes the same sigma as training: the
  # critic calls of one update (reals, fakes, penalty) see one normalised critic.
  np.testing.assert_array_equal(eval_out, train_out)


def test_kernel_gradient_holds_u_and_v_constant_as_the_paper():
  # d/dW of <c, x W / (v^T W u)> with u, v the power iteration's vectors held
  # fixed (stop_gradient), against central finite differences of that function.
  rng = np.random.default_rng(3)
  x = rng.normal(size=(3, 5))
  c = rng.normal(size=(3, 4))
  module = _SNLayer()
  variables = _init(module, jnp.asarray(x))
  w = np.asarray(variables["params"]["layer"]["kernel"])
  _, v, _ = _numpy_iteration(w, np.asarray(_u(variables)))
  u1 = _numpy_iteration(w, np.asarray(_u(variables)))[0]

  def reference(w_):
    return np.sum(c * (x @ (w_ / (v @ w_ @ u1.T).item())))

  def loss(kernel):
    params = {"layer": {**variables["params"]["layer"], "kernel": kernel}}
    out = module.apply({**variables, "params": params}, jnp.asarray(x))
    return jnp.sum(c * out)

  grad = jax.grad(loss)(jnp.asarray(w))
  fd = np.zeros_like(w)
  h = 1e-6
  for idx in np.ndindex(*w.shape):
    e = np.zeros_like(w)
    e[idx] = h
    fd[idx] = (reference(w + e) - reference(w - e)) / (2 * h)
  np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-9)


def test_spectral_norm_adds_no_parameters():
  x = jnp.ones((1, 4, 4, 2))
  with_sn = _SNLayer(conv=True).init(jax.random.key(0), x)
  without = nn.Conv(4, (3, 3)).init(jax.random.key(0), x)
  assert (jax.tree.map(jnp.shape, with_sn["params"]["layer"])
          == jax.tree.map(jnp.shape, without["params"]))
  assert jax.tree.map(jnp.shape, with_sn[layers.SPECTRAL]) == {
      "layer_sn": {"layer/kernel/u": (1, 4), "layer/kernel/sigma": ()}}


def test_upsample_nearest_repeats_every_pixel_two_by_two():
  x = jnp.arange(2 * 3 * 4 * 5, dtype=jnp.float64).reshape(2, 3, 4, 5)
  expected = np.repeat(np.repeat(np.asarray(x), 2, axis=1), 2, axis=2)
  np.testing.assert_array_equal(layers.upsample_nearest(x), expected)


def test_mean_pool_averages_each_two_by_two_window():
  x = jax.random.normal(jax.random.key(1), (2, 6, 4, 3), jnp.float64)
  expected = np.asarray(x).reshape(2, 3, 2, 2, 2, 3).mean(axis=(2, 4))
  np.testing.assert_allclose(layers.mean_pool(x), expected, rtol=1e-12)


# --- BatchNorm's running variance ------------------------------------------------------


def _batchnorm_steps(running_var, batches, momentum=0.9):
  """layers.BatchNorm trained on `batches` in turn: (training outputs, final batch_stats)."""
  bn = layers.BatchNorm(use_running_average=False, momentum=momentum, epsilon=1e-5,
                        running_var=running_var)
  variables = bn.init(jax.random.key(0), batches[0])
  outs = []
  for x in batches:
    out, updates = bn.apply(variables, x, mutable=["batch_stats"])
    variables = {**variables, **updates}
    outs.append(out)
  return outs, variables["batch_stats"]


def test_batchnorm_running_variance_averages_the_unbiased_batch_variance():
  # m = 2 x 3 x 3 = 18 values per channel: the unbiased estimate is 18/17 the biased one.
  x = jnp.asarray(np.random.default_rng(0).normal(1.0, 2.0, size=(2, 3, 3, 4)))
  outs, stats = _batchnorm_steps("unbiased", [x])
  x64 = np.asarray(x)
  # (The running statistics start as float32 variables: float32 accuracy.)
  np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * x64.var(axis=(0, 1, 2), ddof=1),
                             rtol=1e-6)
  np.testing.assert_allclose(stats["mean"], 0.1 * x64.mean(axis=(0, 1, 2)), rtol=1e-6)
  # Training still normalises with the biased batch variance (PyTorch, Chainer, TF).
  expected = (x64 - x64.mean(axis=(0, 1, 2))) / np.sqrt(x64.var(axis=(0, 1, 2)) + 1e-5)
  np.testing.assert_allclose(outs[0], expected, rtol=1e-6, atol=1e-6)
  # "biased" is flax.linen.BatchNorm exactly (what runs before the option averaged).
  ref = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)
  ref_out, ref_stats = ref.apply(ref.init(jax.random.key(0), x), x, mutable=["batch_stats"])
  biased_outs, biased = _batchnorm_steps("biased", [x])
  for a, b in zip(jax.tree.leaves((biased_outs[0], biased)),
                  jax.tree.leaves((ref_out, ref_stats["batch_stats"]))):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(outs[0], ref_out)
  assert np.all(stats["var"] > biased["var"])


def test_batchnorm_running_statistics_match_torch_batchnorm2d():
  torch = pytest.importorskip("torch")
  rng = np.random.default_rng(1)
  batches = [rng.normal(0.5 * i, 1.0 + i, size=(3, 4, 4, 2)) for i in range(3)]
  outs, stats = _batchnorm_steps("unbiased", [jnp.asarray(b) for b in batches])
  # flax momentum 0.9 is PyTorch's momentum 0.1 (running = 0.9 running + 0.1 batch).
  bn = torch.nn.BatchNorm2d(2, eps=1e-5, momentum=0.1).double().train()
  for b, out in zip(batches, outs):
    ref = bn(torch.from_numpy(b.transpose(0, 3, 1, 2))).detach().numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-10)
  # The running statistics start as float32 variables (flax's): float32 accuracy.
  np.testing.assert_allclose(stats["mean"], bn.running_mean.numpy(), rtol=1e-6)
  np.testing.assert_allclose(stats["var"], bn.running_var.numpy(), rtol=1e-6)
  # ...and the biased average, for contrast, is not PyTorch's.
  _, biased = _batchnorm_steps("biased", [jnp.asarray(b) for b in batches])
  assert not np.allclose(biased["var"], bn.running_var.numpy(), rtol=1e-3)
