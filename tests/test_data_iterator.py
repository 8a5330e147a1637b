"""The data iterator contract beyond tests/test_data.py: exact toy and digits formulas,
argument checks, and the tf.data streaming path (folders, tf_flowers, celeb_a): exact
resume across epochs, per-process shards, per-device layout, colour conversion and
the skipped-file warning. Offline; tmp data_dirs only."""

import logging
import os
import subprocess
import sys

import ml_collections
import numpy as np
import pytest
from PIL import Image
from sklearn import datasets as sk_datasets

from jaxgan import data
from jaxgan.data import digits
from jaxgan.data import pipeline
from jaxgan.data import toy


def dataset_cfg(name, **overrides):
  cfg = dict(name=name, data_dir="", path="", image_size=8, shuffle_buffer=64)
  cfg.update(overrides)
  return ml_collections.ConfigDict(cfg)


def take(iterator, n):
  return np.stack([next(iterator) for _ in range(n)])


NUM_GREYS = 11


@pytest.fixture(scope="module")
def grey_folder(tmp_path_factory):
  """11 flat 8x8 PNGs, image i filled with grey level 20*i: pixels identify images."""
  root = tmp_path_factory.mktemp("greys")
  for i in range(NUM_GREYS):
    Image.fromarray(np.full((8, 8, 3), 20 * i, np.uint8)).save(root / f"g{i:02d}.png")
  return str(root)


def grey_ids(items):
  """The image index i of every example in `items` (float [-1, 1] -> level / 20)."""
  levels = (np.asarray(items).reshape(-1, 8, 8, 3) + 1) * 127.5
  ids = np.round(levels[:, 0, 0, 0] / 20).astype(int)
  np.testing.assert_allclose(levels, np.broadcast_to(20.0 * ids[:, None, None, None],
                                                     levels.shape), atol=1e-3)
  return ids


# --- toy: exact formulas ----------------------------------------------------------


@pytest.mark.parametrize("name", toy.TOY_DATASETS)
def test_toy_sample_is_a_function_of_the_generator_state(name):
  a = toy.sample(name, np.random.default_rng(3), 100)
  assert a.shape == (100, 2) and a.dtype == np.float32
  np.testing.assert_array_equal(a, toy.sample(name, np.random.default_rng(3), 100))
  assert not np.array_equal(a, toy.sample(name, np.random.default_rng(4), 100))


def test_toy_modes_are_the_authors_centres_scaled():
  r = 0.5**0.5
  ring = np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (r, r), (r, -r), (-r, r), (-r, -r)])
  np.testing.assert_allclose(toy.modes("8gaussians"), 2 * ring / 1.414, rtol=1e-6,
                             atol=1e-7)
  grid = np.array([(2 * x, 2 * y) for x in range(-2, 3) for y in range(-2, 3)])
  np.testing.assert_allclose(toy.modes("25gaussians"), grid / 2.828, rtol=1e-6)


def test_swissroll_is_sklearn_roll_columns_0_and_2_divided_by_7_5():
  points = toy.sample("swissroll", np.random.default_rng(5), 500)
  # sample() draws sklearn's seed as its first use of rng.
  sk_seed = int(np.random.default_rng(5).integers(0, 2**31 - 1))
  roll = sk_datasets.make_swiss_roll(500, noise=0.25, random_state=sk_seed)[0]
  np.testing.assert_allclose(points, roll[:, [0, 2]] / 7.5, rtol=1e-6)


def test_unknown_toy_name_lists_allowed_and_swissroll_has_no_modes():
  with pytest.raises(ValueError, match="'9gaussians'.*8gaussians, 25gaussians, swissroll"):
    toy.sample("9gaussians", np.random.default_rng(0), 1)
  for fn in (toy.modes, toy.mode_std):
    with pytest.raises(ValueError, match="no discrete modes"):
      fn("swissroll")


# --- digits: exact formulas -------------------------------------------------------


def test_digits_pixels_scale_0_16_to_0_255():
  np.testing.assert_array_equal(digits.to_uint8(np.array([0, 1, 8, 15, 16])),
                                [0, 16, 128, 239, 255])


def test_digits_splits_are_disjoint_complete_every_sixth_to_test():
  train = digits.split_indices(1797, "train")
  test = digits.split_indices(1797, "test")
  assert len(test) == 300 and len(train) == 1497 and np.all(test % 6 == 0)
  np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(1797))


def test_digits_tfrecords_hold_sklearns_images_and_labels_class_balanced(tmp_path):
  import tensorflow_datasets as tfds
  builder = digits.Digits(data_dir=str(tmp_path))
  builder.download_and_prepare()
  sk = sk_datasets.load_digits()
  key = lambda ims, ls: sorted(im.tobytes() + bytes([l]) for im, l in zip(ims, ls))
  for split in ("train", "test"):
    ex = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    idx = digits.split_indices(1797, split)
    # Same multiset of (image, label) as sklearn's split; TFDS reorders examples.
    assert key(ex["image"], ex["label"]) == key(
        digits.to_uint8(sk.images[idx])[..., None], sk.target[idx])
    assert np.bincount(ex["label"], minlength=10).min() >= 0.8 * len(idx) / 10


def test_digits_at_native_size_are_exact_uint8_levels_over_127_5(tmp_path):
  item = next(data.make_iterator(dataset_cfg("digits", data_dir=str(tmp_path)),
                                 global_batch_size=64, n_critic=2, seed=0))
  levels = (item + 1) * 127.5
  np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)
  assert item.min() == -1.0 and item.max() == 1.0


# --- arguments and shapes (no TF) -------------------------------------------------


def test_data_shape_channels_follow_the_dataset():
  for name, channels in [("digits", 1), ("mnist", 1), ("fashion_mnist", 1),
                         ("cifar10", 3), ("tf_flowers", 3), ("celeb_a", 3),
                         ("folder", 3)]:
    assert data.data_shape(dataset_cfg(name, image_size=12)) == (12, 12, channels)
  for name in data.TOY_DATASETS:
    assert data.data_shape(dataset_cfg(name, image_size=0)) == (2,)


def test_make_iterator_rejects_unknown_dataset_naming_it():
  with pytest.raises(ValueError, match=r"'imagenet'.*allowed: digits, mnist"):
    data.make_iterator(dataset_cfg("imagenet"), global_batch_size=4, n_critic=1, seed=0)


@pytest.mark.parametrize("processes,devices,shards", [(3, None, "3 \\* 1 = 3"),
                                                      (2, 2, "2 \\* 2 = 4")])
def test_indivisible_global_batch_names_processes_and_devices(processes, devices,
                                                               shards):
  with pytest.raises(ValueError, match=f"batch size 10 is not divisible by.*{shards}"):
    data.make_iterator(dataset_cfg("8gaussians"), global_batch_size=10, n_critic=1,
                       seed=0, num_local_devices=devices, process_count=processes)


def test_toy_items_are_per_process_batches_and_position_counts_items():
  it = data.make_iterator(dataset_cfg("8gaussians"), global_batch_size=8, n_critic=3,
                          seed=0, process_count=2, position=5)
  assert it.position == 5
  item = next(it)
  assert item.shape == (3, 4, 2) == it.item_shape and item.dtype == np.float32
  next(it)
  assert it.position == 7


def test_toy_resume_and_per_device_layout():
  cfg = dataset_cfg("swissroll")
  kwargs = dict(global_batch_size=16, n_critic=3, seed=7)
  reference = take(data.make_iterator(cfg, **kwargs), 6)
  np.testing.assert_array_equal(take(data.make_iterator(cfg, position=4, **kwargs), 2),
                                reference[4:])
  per_device = next(data.make_iterator(cfg, num_local_devices=4, **kwargs))
  assert per_device.shape == (4, 3, 4, 2)
  for d in range(4):
    np.testing.assert_array_equal(per_device[d], reference[0][:, 4 * d:4 * (d + 1)])


def test_toy_processes_draw_different_points():
  kwargs = dict(global_batch_size=8, n_critic=1, seed=0, process_count=2)
  a = next(data.make_iterator(dataset_cfg("25gaussians"), process_index=0, **kwargs))
  b = next(data.make_iterator(dataset_cfg("25gaussians"), process_index=1, **kwargs))
  assert not np.array_equal(a, b)


# --- the tf.data streaming path ---------------------------------------------------


def test_streaming_resume_matches_uninterrupted_across_epochs(grey_folder):
  cfg = dataset_cfg("folder", path=grey_folder)
  kwargs = dict(global_batch_size=3, n_critic=2, seed=5)  # 6 per item, 11 per epoch
  reference = take(data.make_iterator(cfg, **kwargs), 12)
  for p in (1, 2, 7, 9):
    resumed = data.make_iterator(cfg, position=p, **kwargs)
    np.testing.assert_array_equal(take(resumed, 3), reference[p:p + 3])
    assert resumed.position == p + 3
  ids = grey_ids(reference)
  for epoch in range(6):  # each epoch is a permutation, reshuffled per epoch
    assert sorted(ids[11 * epoch:11 * (epoch + 1)]) == list(range(NUM_GREYS))
  assert list(ids[:11]) != list(ids[11:22])


def test_streaming_process_shards_are_disjoint_and_complete(grey_folder):
  cfg = dataset_cfg("folder", path=grey_folder)
  shards = []
  for p in range(3):
    it = data.make_iterator(cfg, global_batch_size=3, n_critic=1, seed=0,
                            process_index=p, process_count=3)
    size = len(range(p, NUM_GREYS, 3))  # 4, 4, 3
    shards.append(set(grey_ids(take(it, size))))
    assert len(shards[-1]) == size  # one epoch of a shard: no repeats
  assert not (shards[0] & shards[1] or shards[0] & shards[2] or shards[1] & shards[2])
  assert set.union(*shards) == set(range(NUM_GREYS))


def test_streaming_per_device_items_split_each_critic_batch(grey_folder):
  cfg = dataset_cfg("folder", path=grey_folder)
  kwargs = dict(global_batch_size=8, n_critic=2, seed=1)
  flat = next(data.make_iterator(cfg, **kwargs))
  per_device = next(data.make_iterator(cfg, num_local_devices=4, **kwargs))
  assert per_device.shape == (4, 2, 2, 8, 8, 3)
  for d in range(4):
    np.testing.assert_array_equal(per_device[d], flat[:, 2 * d:2 * (d + 1)])


def test_tf_and_numpy_device_layouts_agree():
  import tensorflow as tf
  from jaxgan.data import images
  item = np.arange(3 * 8 * 2, dtype=np.float32).reshape(3, 8, 2)
  np.testing.assert_array_equal(
      pipeline.split_for_devices(item, 4),
      images.split_for_devices(tf.constant(item.reshape(24, 2)), 3, 4).numpy())


def test_folder_grey_and_rgba_pngs_become_rgb(tmp_path):
  Image.fromarray(np.full((8, 8), 200, np.uint8), "L").save(tmp_path / "grey.png")
  rgba = np.zeros((8, 8, 4), np.uint8)
  rgba[..., 0], rgba[..., 3] = 255, 128
  Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
  item = next(data.make_iterator(dataset_cfg("folder", path=str(tmp_path)),
                                 global_batch_size=2, n_critic=1, seed=0))
  assert item.shape == (1, 2, 8, 8, 3)
  by_red = sorted(item[0], key=lambda x: x[0, 0, 0])
  np.testing.assert_allclose(by_red[0], 200 / 127.5 - 1, atol=1e-6)  # grey everywhere
  np.testing.assert_allclose(by_red[1][..., 0], 1.0)  # red kept, alpha dropped
  np.testing.assert_allclose(by_red[1][..., 1:], -1.0)


def test_folder_downscales_with_centre_crop(tmp_path):
  # 24x12: left/right quarters black, centre 12x12 white -> centre crop is all white.
  pixels = np.zeros((12, 24, 3), np.uint8)
  pixels[:, 6:18] = 255
  Image.fromarray(pixels).save(tmp_path / "wide.png")
  item = next(data.make_iterator(dataset_cfg("folder", path=str(tmp_path), image_size=4),
                                 global_batch_size=1, n_critic=1, seed=0))
  np.testing.assert_allclose(item, 1.0, atol=1e-5)


def test_folder_logs_the_count_of_skipped_files(tmp_path, caplog):
  for i in range(2):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"ok{i}.png")
  (tmp_path / "bad1.png").write_bytes(b"\x89PNG garbage")
  (tmp_path / "bad2.jpg").write_bytes(b"not a jpeg")
  with caplog.at_level(logging.WARNING):
    item = next(data.make_iterator(dataset_cfg("folder", path=str(tmp_path)),
                                   global_batch_size=2, n_critic=1, seed=0))
  assert item.shape == (1, 2, 8, 8, 3)
  assert "skipped 2 unreadable image file(s) of 4" in caplog.text
  assert "bad1.png" in caplog.text


def test_folder_image_failing_to_decode_mid_run_is_named(tmp_path):
  Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ok.png")
  pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
  Image.fromarray(pixels).save(tmp_path / "zeroed.jpg", "JPEG")
  raw = bytearray((tmp_path / "zeroed.jpg").read_bytes())
  middle = len(raw) // 3
  raw[middle:middle + 200] = bytes(200)  # header and end marker intact
  (tmp_path / "zeroed.jpg").write_bytes(bytes(raw))
  it = data.make_iterator(dataset_cfg("folder", path=str(tmp_path)),
                          global_batch_size=2, n_critic=1, seed=0)
  with pytest.raises(ValueError, match=r"failed to decode during training; "
                                       r"undecodable files: .*zeroed\.jpg"):
    next(it)


def test_streaming_tfds_dataset_resumes_exactly_under_mock_data(tmp_path):
  import tensorflow_datasets as tfds
  cfg = dataset_cfg("tf_flowers", data_dir=str(tmp_path), image_size=8)
  kwargs = dict(global_batch_size=4, n_critic=1, seed=3)  # 4 per item, 10 per epoch
  with tfds.testing.mock_data(num_examples=10):
    reference = take(data.make_iterator(cfg, **kwargs), 6)
    np.testing.assert_array_equal(take(data.make_iterator(cfg, position=2, **kwargs), 4),
                                  reference[2:])


@pytest.mark.parametrize("name", ["tf_flowers", "celeb_a"])
def test_missing_streamed_tfds_dataset_is_one_error_naming_dir_and_fix(tmp_path, name):
  cfg = dataset_cfg(name, data_dir=str(tmp_path / "nowhere"), image_size=8)
  with pytest.raises(data.DatasetNotPreparedError) as info:
    data.make_iterator(cfg, global_batch_size=4, n_critic=1, seed=0)
  message = str(info.value)
  assert repr(name) in message and str(tmp_path / "nowhere") in message
  assert f"tfds build {name}" in message and "downloads/manual" in message
  assert isinstance(info.value, ValueError)


@pytest.mark.slow
def test_streaming_shuffles_are_the_same_in_a_fresh_process(grey_folder):
  """A resume runs in a new process: shuffle seeds must not depend on process state."""
  code = (
      "import ml_collections; from jaxgan import data;"
      f"cfg = ml_collections.ConfigDict(dict(name='folder', data_dir='', path={grey_folder!r},"
      "image_size=8, shuffle_buffer=64));"
      "it = data.make_iterator(cfg, global_batch_size=3, n_critic=2, seed=5, position=4);"
      "print(next(it).tobytes().hex()); import os; os._exit(0)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  here = take(data.make_iterator(dataset_cfg("folder", path=grey_folder),
                                 global_batch_size=3, n_critic=2, seed=5), 5)[4]
  assert out.stdout.strip().splitlines()[-1] == here.tobytes().hex()
