"""Tests of jaxgan.data (Part 1 contract): toy datasets, the offline digits builder, the iterator contract.

Image tests use the real (local, offline) digits builder prepared once into a tmp
data_dir; nothing touches ~/tensorflow_datasets or the network.
"""

import glob
import os

import ml_collections
import numpy as np
import pytest
from sklearn import datasets as sk_datasets

from jaxgan import data
from jaxgan.data import digits
from jaxgan.data import pipeline
from jaxgan.data import toy


def dataset_cfg(name, **overrides):
  cfg = dict(name=name, data_dir="", path="", image_size=8, shuffle_buffer=10_000)
  cfg.update(overrides)
  return ml_collections.ConfigDict(cfg)


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
  """A data_dir with digits prepared once for the module (prepared on first use)."""
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  next(data.make_iterator(dataset_cfg("digits", data_dir=data_dir),
                          global_batch_size=1, n_critic=1, seed=0))
  return data_dir


def take(iterator, n):
  return np.stack([next(iterator) for _ in range(n)])


# --- toy 2D ---------------------------------------------------------------------


@pytest.mark.parametrize("name", toy.TOY_DATASETS)
def test_toy_sample_is_float32_n_by_2_and_a_function_of_the_generator(name):
  a = toy.sample(name, np.random.default_rng(3), 100)
  b = toy.sample(name, np.random.default_rng(3), 100)
  c = toy.sample(name, np.random.default_rng(4), 100)
  assert a.shape == (100, 2) and a.dtype == np.float32
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def test_8gaussians_modes_are_radius_2_ring_divided_by_1_414():
  m = toy.modes("8gaussians")
  assert m.shape == (8, 2) and m.dtype == np.float32
  np.testing.assert_allclose(np.linalg.norm(m, axis=1), 2 / 1.414, rtol=1e-6)
  np.testing.assert_allclose(np.sort(m[:, 0]), np.sort(
      np.array([1, -1, 0, 0, 0.5**.5, 0.5**.5, -0.5**.5, -0.5**.5]) * 2 / 1.414),
                             rtol=1e-6, atol=1e-7)
  assert toy.mode_std("8gaussians") == pytest.approx(0.02 / 1.414)


def test_25gaussians_modes_are_grid_2x_2y_divided_by_2_828():
  m = toy.modes("25gaussians")
  expected = np.array([(2 * x, 2 * y) for x in range(-2, 3) for y in range(-2, 3)])
  np.testing.assert_allclose(m, expected / 2.828, rtol=1e-6)
  assert toy.mode_std("25gaussians") == pytest.approx(0.05 / 2.828)


@pytest.mark.parametrize("name", ["8gaussians", "25gaussians"])
def test_mixture_points_cover_every_mode_with_the_stated_std(name):
  points = toy.sample(name, np.random.default_rng(0), 20_000)
  centres = toy.modes(name)
  nearest = np.argmin(
      np.linalg.norm(points[:, None] - centres[None], axis=-1), axis=1)
  residual = points - centres[nearest]
  counts = np.bincount(nearest, minlength=len(centres))
  # Uniform mode choice: every mode near n/M points.
  assert counts.min() > 0.7 * len(points) / len(centres)
  np.testing.assert_allclose(residual.std(axis=0), toy.mode_std(name), rtol=0.05)
  assert np.abs(residual).max() < 6 * toy.mode_std(name)


def test_swissroll_is_sklearn_roll_columns_0_and_2_divided_by_7_5():
  points = toy.sample("swissroll", np.random.default_rng(5), 500)
  # sample() draws sklearn's seed as its first use of rng.
  sk_seed = int(np.random.default_rng(5).integers(0, 2**31 - 1))
  roll = sk_datasets.make_swiss_roll(500, noise=0.25, random_state=sk_seed)[0]
  np.testing.assert_allclose(points, roll[:, [0, 2]] / 7.5, rtol=1e-6)
  assert np.abs(points).max() < 2.1  # radius <= 4.5*pi + noise, over 7.5


def test_unknown_toy_name_raises_listing_allowed_names():
  with pytest.raises(ValueError, match="9gaussians.*8gaussians, 25gaussians, swissroll"):
    toy.sample("9gaussians", np.random.default_rng(0), 1)


def test_swissroll_has_no_modes():
  with pytest.raises(ValueError, match="no discrete modes"):
    toy.modes("swissroll")
  with pytest.raises(ValueError, match="no discrete modes"):
    toy.mode_std("swissroll")


# --- digits builder -------------------------------------------------------------


def test_digits_pixels_scale_0_16_to_0_255():
  np.testing.assert_array_equal(
      digits.to_uint8(np.array([0, 1, 8, 15, 16])), [0, 16, 128, 239, 255])


def test_digits_splits_are_disjoint_complete_every_sixth_to_test():
  train = digits.split_indices(1797, "train")
  test = digits.split_indices(1797, "test")
  assert len(test) == 300 and len(train) == 1497
  np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(1797))
  assert np.all(test % 6 == 0)


def test_digits_builder_writes_tfrecords_of_sklearn_images(digits_dir):
  import tensorflow_datasets as tfds
  assert glob.glob(os.path.join(digits_dir, "digits", "1.0.0", "digits-train.tfrecord*"))
  builder = digits.Digits(data_dir=digits_dir)
  assert builder.info.splits["train"].num_examples == 1497
  assert builder.info.splits["test"].num_examples == 300
  sk = sk_datasets.load_digits()
  for split in ("train", "test"):
    examples = list(tfds.as_numpy(builder.as_dataset(split=split)))
    images = np.stack([e["image"] for e in examples])
    labels = np.array([e["label"] for e in examples])
    assert images.shape[1:] == (8, 8, 1) and images.dtype == np.uint8
    idx = digits.split_indices(1797, split)
    expected = digits.to_uint8(sk.images[idx])[..., None]
    # Same multiset of (image, label) pairs as sklearn's split (TFDS reorders).
    key = lambda ims, ls: sorted(im.tobytes() + bytes([l]) for im, l in zip(ims, ls))
    assert key(images, labels) == key(expected, sk.target[idx])
    counts = np.bincount(labels, minlength=10)
    assert counts.min() >= 0.8 * len(labels) / 10  # class-balanced-ish


# --- the iterator contract ------------------------------------------------------


def test_data_shape_images_follow_dataset_channels_toy_is_2d():
  assert data.data_shape(dataset_cfg("digits", image_size=8)) == (8, 8, 1)
  assert data.data_shape(dataset_cfg("mnist", image_size=28)) == (28, 28, 1)
  assert data.data_shape(dataset_cfg("fashion_mnist", image_size=32)) == (32, 32, 1)
  assert data.data_shape(dataset_cfg("cifar10", image_size=32)) == (32, 32, 3)
  assert data.data_shape(dataset_cfg("celeb_a", image_size=64)) == (64, 64, 3)
  assert data.data_shape(dataset_cfg("folder", image_size=16)) == (16, 16, 3)
  assert data.data_shape(dataset_cfg("25gaussians", image_size=0)) == (2,)
  assert set(data.DATASETS) == {
      "digits", "mnist", "fashion_mnist", "cifar10", "tf_flowers", "celeb_a",
      "folder", "8gaussians", "25gaussians", "swissroll"}


def test_unknown_dataset_name_raises_naming_it_and_listing_allowed():
  for fn in (data.data_shape,
             lambda c: data.make_iterator(c, global_batch_size=4, n_critic=1, seed=0)):
    with pytest.raises(ValueError, match=r"'imagenet'.*allowed: digits, mnist"):
      fn(dataset_cfg("imagenet"))


@pytest.mark.parametrize("processes,devices,message", [
    (3, None, "10 is not divisible by process_count \\* num_local_devices = 3 \\* 1 = 3"),
    (1, 4, "10 is not divisible by process_count \\* num_local_devices = 1 \\* 4 = 4"),
    (2, 2, "10 is not divisible by process_count \\* num_local_devices = 2 \\* 2 = 4"),
])
def test_indivisible_global_batch_raises_with_the_numbers(processes, devices, message):
  with pytest.raises(ValueError, match=message):
    data.make_iterator(dataset_cfg("8gaussians"), global_batch_size=10, n_critic=1,
                       seed=0, num_local_devices=devices, process_count=processes)


def test_toy_items_are_n_critic_by_process_batch_and_position_counts_items():
  it = data.make_iterator(dataset_cfg("8gaussians"), global_batch_size=8, n_critic=3,
                          seed=0, process_count=2, position=5)
  assert it.position == 5
  item = next(it)
  assert item.shape == (3, 4, 2) == it.item_shape and item.dtype == np.float32
  next(it)
  assert it.position == 7


@pytest.mark.parametrize("name", ["digits", "swissroll"])
def test_iterator_from_position_p_yields_what_uninterrupted_yields_from_p(
    name, digits_dir):
  cfg = dataset_cfg(name, data_dir=digits_dir, shuffle_buffer=500)
  kwargs = dict(global_batch_size=16, n_critic=5, seed=7)
  # 80 digits per item, 1497 per epoch: 40 items span three epochs.
  reference = take(data.make_iterator(cfg, **kwargs), 40)
  for p in (1, 18, 19, 37):
    resumed = data.make_iterator(cfg, position=p, **kwargs)
    np.testing.assert_array_equal(take(resumed, 3), reference[p:p + 3])
    assert resumed.position == p + 3


def test_digits_items_are_float_in_minus_1_1_with_exact_pixel_values(digits_dir):
  it = data.make_iterator(dataset_cfg("digits", data_dir=digits_dir),
                          global_batch_size=32, n_critic=2, seed=0)
  item = next(it)
  assert item.shape == (2, 32, 8, 8, 1) and item.dtype == np.float32
  assert item.min() == -1.0 and item.max() == 1.0
  # 8x8 is the native size: pixels are uint8 levels mapped by v / 127.5 - 1.
  levels = (item + 1) * 127.5
  np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)


def test_digits_epoch_visits_every_train_image_once_and_reshuffles(digits_dir):
  import tensorflow_datasets as tfds
  it = data.make_iterator(dataset_cfg("digits", data_dir=digits_dir, shuffle_buffer=2000),
                          global_batch_size=1, n_critic=1, seed=1)
  stream = take(it, 2 * 1497)[:, 0, 0]
  builder = digits.Digits(data_dir=digits_dir)
  train = [e["image"] for e in tfds.as_numpy(builder.as_dataset(split="train"))]
  expected = sorted(im.tobytes() for im in train)
  epoch0, epoch1 = stream[:1497], stream[1497:]
  as_uint8 = lambda x: np.round((x + 1) * 127.5).astype(np.uint8).tobytes()
  assert sorted(as_uint8(x) for x in epoch0) == expected
  assert sorted(as_uint8(x) for x in epoch1) == expected
  assert not np.array_equal(epoch0, epoch1)


@pytest.mark.parametrize("name", ["digits", "25gaussians"])
def test_per_device_items_split_each_critic_batch_across_devices(name, digits_dir):
  cfg = dataset_cfg(name, data_dir=digits_dir)
  kwargs = dict(global_batch_size=16, n_critic=3, seed=2)
  flat = next(data.make_iterator(cfg, **kwargs))
  per_device = next(data.make_iterator(cfg, num_local_devices=4, **kwargs))
  shape = data.data_shape(cfg)
  assert per_device.shape == (4, 3, 4, *shape)
  for d in range(4):
    np.testing.assert_array_equal(per_device[d], flat[:, 4 * d:4 * (d + 1)])


def test_toy_processes_draw_different_points():
  kwargs = dict(global_batch_size=8, n_critic=1, seed=0, process_count=2)
  a = next(data.make_iterator(dataset_cfg("25gaussians"), process_index=0, **kwargs))
  b = next(data.make_iterator(dataset_cfg("25gaussians"), process_index=1, **kwargs))
  assert not np.array_equal(a, b)


def test_split_for_devices_matches_image_pipeline_layout():
  import tensorflow as tf
  from jaxgan.data import images
  item = np.arange(3 * 8 * 2, dtype=np.float32).reshape(3, 8, 2)
  np.testing.assert_array_equal(
      pipeline.split_for_devices(item, 4),
      images.split_for_devices(tf.constant(item.reshape(24, 2)), 3, 4).numpy())


@pytest.mark.slow
def test_digits_stream_is_the_same_in_a_fresh_process(digits_dir):
  """Resuming happens in a new process: shuffles must not depend on process state."""
  import subprocess
  import sys
  code = (
      "import ml_collections, numpy as np; from jaxgan import data;"
      f"cfg = ml_collections.ConfigDict(dict(name='digits', data_dir={digits_dir!r},"
      "path='', image_size=8, shuffle_buffer=500));"
      "it = data.make_iterator(cfg, global_batch_size=16, n_critic=5, seed=7, position=20);"
      "print(next(it).tobytes().hex())")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True).stdout.strip().splitlines()[-1]
  here = take(data.make_iterator(dataset_cfg("digits", data_dir=digits_dir,
                                             shuffle_buffer=500),
                                 global_batch_size=16, n_critic=5, seed=7), 21)[20]
  assert out == here.tobytes().hex()
