"""jaxgan.data without TensorFlow: the toy 2D sets (the WGAN-GP authors' gan_toy.py
formulas) and the iterator contract shared by every dataset (shapes, argument
errors, positions, per-process and per-device items)."""

import subprocess
import sys

import ml_collections
import numpy as np
import pytest
from sklearn import datasets as sk_datasets

from jaxgan import data
from jaxgan.data import toy


def dataset_cfg(name, image_size=8):
  return ml_collections.ConfigDict(dict(name=name, data_dir="", path="",
                                        image_size=image_size, shuffle_buffer=64))


def take(iterator, n):
  return np.stack([next(iterator) for _ in range(n)])


# --- toy sets: exact formulas ------------------------------------------------------


@pytest.mark.parametrize("name", toy.TOY_DATASETS)
def test_toy_sample_is_float32_n_by_2_and_a_function_of_the_generator(name):
  a = toy.sample(name, np.random.default_rng(3), 100)
  assert a.shape == (100, 2) and a.dtype == np.float32
  np.testing.assert_array_equal(a, toy.sample(name, np.random.default_rng(3), 100))
  assert not np.array_equal(a, toy.sample(name, np.random.default_rng(4), 100))


def test_8gaussians_modes_are_radius_2_ring_divided_by_1_414():
  r = 0.5**0.5
  ring = np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (r, r), (r, -r), (-r, r), (-r, -r)])
  np.testing.assert_allclose(toy.modes("8gaussians"), 2 * ring / 1.414, rtol=1e-6,
                             atol=1e-7)
  assert toy.mode_std("8gaussians") == pytest.approx(0.02 / 1.414)


def test_25gaussians_modes_are_grid_2x_2y_divided_by_2_828():
  grid = np.array([(2 * x, 2 * y) for x in range(-2, 3) for y in range(-2, 3)])
  np.testing.assert_allclose(toy.modes("25gaussians"), grid / 2.828, rtol=1e-6)
  assert toy.mode_std("25gaussians") == pytest.approx(0.05 / 2.828)


@pytest.mark.parametrize("name", ["8gaussians", "25gaussians"])
def test_mixture_points_cover_every_mode_with_the_stated_std(name):
  points = toy.sample(name, np.random.default_rng(0), 20_000)
  centres = toy.modes(name)
  nearest = np.argmin(np.linalg.norm(points[:, None] - centres[None], axis=-1), axis=1)
  residual = points - centres[nearest]
  counts = np.bincount(nearest, minlength=len(centres))
  assert counts.min() > 0.7 * len(points) / len(centres)  # modes chosen uniformly
  np.testing.assert_allclose(residual.std(axis=0), toy.mode_std(name), rtol=0.05)
  assert np.abs(residual).max() < 6 * toy.mode_std(name)


def test_swissroll_is_sklearn_roll_columns_0_and_2_divided_by_7_5():
  points = toy.sample("swissroll", np.random.default_rng(5), 500)
  sk_seed = int(np.random.default_rng(5).integers(0, 2**31 - 1))  # sample()'s first draw
  roll = sk_datasets.make_swiss_roll(500, noise=0.25, random_state=sk_seed)[0]
  np.testing.assert_allclose(points, roll[:, [0, 2]] / 7.5, rtol=1e-6)


def test_unknown_toy_name_lists_allowed_and_swissroll_has_no_modes():
  with pytest.raises(ValueError, match="'9gaussians'.*8gaussians, 25gaussians, swissroll"):
    toy.sample("9gaussians", np.random.default_rng(0), 1)
  for fn in (toy.modes, toy.mode_std):
    with pytest.raises(ValueError, match="no discrete modes"):
      fn("swissroll")


# --- the iterator contract ---------------------------------------------------------


def test_data_shape_channels_follow_the_dataset_and_toy_is_2d():
  assert set(data.DATASETS) == set(data.IMAGE_DATASETS) | set(data.TOY_DATASETS) == {
      "digits", "mnist", "fashion_mnist", "cifar10", "tf_flowers", "celeb_a",
      "folder", "8gaussians", "25gaussians", "swissroll"}
  for name, channels in [("digits", 1), ("mnist", 1), ("fashion_mnist", 1),
                         ("cifar10", 3), ("tf_flowers", 3), ("celeb_a", 3),
                         ("folder", 3)]:
    assert data.data_shape(dataset_cfg(name, image_size=12)) == (12, 12, channels)
  for name in data.TOY_DATASETS:
    assert data.data_shape(dataset_cfg(name, image_size=0)) == (2,)
  with pytest.raises(ValueError, match="image_size must be >= 1 for 'mnist', got 0"):
    data.data_shape(dataset_cfg("mnist", image_size=0))


def test_unknown_dataset_name_raises_naming_it_and_listing_allowed():
  for fn in (data.data_shape,
             lambda c: data.make_iterator(c, global_batch_size=4, n_critic=1, seed=0)):
    with pytest.raises(ValueError, match=r"'imagenet'.*allowed: digits, mnist"):
      fn(dataset_cfg("imagenet"))


@pytest.mark.parametrize("processes,devices,shards", [
    (3, None, "3 \\* 1 = 3"), (1, 4, "1 \\* 4 = 4"), (2, 2, "2 \\* 2 = 4")])
def test_indivisible_global_batch_raises_with_the_numbers(processes, devices, shards):
  with pytest.raises(ValueError, match="global batch size 10 is not divisible by "
                                       f"process_count \\* num_local_devices = {shards}"):
    data.make_iterator(dataset_cfg("8gaussians"), global_batch_size=10, n_critic=1,
                       seed=0, num_local_devices=devices, process_count=processes)


@pytest.mark.parametrize("kwargs,message", [
    (dict(n_critic=0), "n_critic must be >= 1, got 0"),
    (dict(seed=-1), "seed must be >= 0, got -1"),
    (dict(position=-2), "position must be >= 0, got -2"),
    (dict(process_index=2, process_count=2), r"process_index 2 is not in \[0, 2\)"),
])
def test_bad_iterator_arguments_are_value_errors_naming_the_value(kwargs, message):
  args = dict(global_batch_size=4, n_critic=1, seed=0) | kwargs
  with pytest.raises(ValueError, match=message):
    data.make_iterator(dataset_cfg("swissroll"), **args)


def test_toy_items_are_n_critic_by_process_batch_and_position_counts_items():
  it = data.make_iterator(dataset_cfg("8gaussians"), global_batch_size=8, n_critic=3,
                          seed=0, process_count=2, position=5)
  assert it.position == 5
  item = next(it)
  assert item.shape == (3, 4, 2) == it.item_shape and item.dtype == np.float32
  next(it)
  assert it.position == 7


def test_toy_iterator_from_position_p_yields_what_uninterrupted_yields_from_p():
  kwargs = dict(global_batch_size=16, n_critic=3, seed=7)
  reference = take(data.make_iterator(dataset_cfg("swissroll"), **kwargs), 6)
  assert len({x.tobytes() for x in reference}) == 6  # items differ: the check has teeth
  resumed = data.make_iterator(dataset_cfg("swissroll"), position=4, **kwargs)
  np.testing.assert_array_equal(take(resumed, 2), reference[4:])
  assert resumed.position == 6


def test_toy_process_items_are_slices_of_the_one_process_global_batch():
  """Multi-host invariance: the data does not depend on the process count."""
  kwargs = dict(global_batch_size=12, n_critic=2, seed=3)
  whole = take(data.make_iterator(dataset_cfg("25gaussians"), **kwargs), 3)
  parts = [take(data.make_iterator(dataset_cfg("25gaussians"), process_index=p,
                                   process_count=3, **kwargs), 3) for p in range(3)]
  assert parts[0].shape == (3, 2, 4, 2)
  np.testing.assert_array_equal(np.concatenate(parts, axis=2), whole)


def test_toy_per_device_items_split_each_critic_batch():
  kwargs = dict(global_batch_size=16, n_critic=3, seed=2)
  flat = next(data.make_iterator(dataset_cfg("8gaussians"), **kwargs))
  per_device = next(data.make_iterator(dataset_cfg("8gaussians"), num_local_devices=4,
                                       **kwargs))
  assert per_device.shape == (4, 3, 4, 2)
  for d in range(4):
    np.testing.assert_array_equal(per_device[d], flat[:, 4 * d:4 * (d + 1)])


def test_toy_iterators_do_not_import_tensorflow():
  code = ("import sys, ml_collections; from jaxgan import data;"
          "cfg = ml_collections.ConfigDict(dict(name='swissroll', data_dir='', path='',"
          " image_size=0, shuffle_buffer=1));"
          "next(data.make_iterator(cfg, global_batch_size=4, n_critic=1, seed=0));"
          "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow'))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True)
  assert out.stdout.strip() == "[]"
