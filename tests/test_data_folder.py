"""dataset.name=folder: directories of JPEG/PNG images through the streaming tf.data
path (class sub-folders, colour conversion, centre crop, bad and non-image files,
empty or missing folders, exact resume, per-process shards, per-device items).
Images are tiny files generated under tmp_path."""

import logging
import os

import ml_collections
import numpy as np
import pytest
from PIL import Image

from jaxgan import data
from jaxgan.data import folder

NUM_GREYS = 11


def dataset_cfg(path, image_size=8):
  return ml_collections.ConfigDict(dict(name="folder", data_dir="", path=str(path),
                                        image_size=image_size, shuffle_buffer=64))


def take(iterator, n):
  return np.stack([next(iterator) for _ in range(n)])


def write_images(directory, n, *, size=(20, 12), fmt="PNG", seed=0):
  os.makedirs(directory, exist_ok=True)
  rng = np.random.default_rng(seed)
  for i in range(n):
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    ext = "png" if fmt == "PNG" else "jpg"
    Image.fromarray(pixels).save(os.path.join(directory, f"img{i}.{ext}"), fmt)


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


# --- what a folder may hold --------------------------------------------------------


def test_folder_with_class_subfolders_trains_through_the_same_pipeline(tmp_path):
  root = tmp_path / "flower_photos"
  write_images(root / "daisy", 5, fmt="JPEG")
  write_images(root / "roses", 4, fmt="PNG", size=(16, 16), seed=1)
  (root / "LICENSE.txt").write_text("not an image")
  assert len(folder.list_images(str(root))) == 9
  cfg = dataset_cfg(root)
  assert data.data_shape(cfg) == (8, 8, 3)
  it = data.make_iterator(cfg, global_batch_size=3, n_critic=3, seed=0)
  item = next(it)  # one epoch: all 9 images
  assert item.shape == (3, 3, 8, 8, 3) and item.dtype == np.float32
  assert item.min() >= -1 and item.max() <= 1 and np.std(item) > 0.1
  assert len({x.tobytes() for x in item.reshape(9, -1)}) == 9


def test_folder_grey_and_rgba_pngs_become_rgb(tmp_path):
  Image.fromarray(np.full((8, 8), 200, np.uint8), "L").save(tmp_path / "grey.png")
  rgba = np.zeros((8, 8, 4), np.uint8)
  rgba[..., 0], rgba[..., 3] = 255, 128
  Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
  item = next(data.make_iterator(dataset_cfg(tmp_path), global_batch_size=2,
                                 n_critic=1, seed=0))
  assert item.shape == (1, 2, 8, 8, 3)
  by_red = sorted(item[0], key=lambda x: x[0, 0, 0])
  np.testing.assert_allclose(by_red[0], 200 / 127.5 - 1, atol=1e-6)  # grey everywhere
  np.testing.assert_allclose(by_red[1][..., 0], 1.0)  # red kept, alpha dropped
  np.testing.assert_allclose(by_red[1][..., 1:], -1.0)


def test_folder_downscales_with_centre_crop(tmp_path):
  # 24x12: left/right quarters black, centre 12x12 white -> the centre crop is white.
  pixels = np.zeros((12, 24, 3), np.uint8)
  pixels[:, 6:18] = 255
  Image.fromarray(pixels).save(tmp_path / "wide.png")
  item = next(data.make_iterator(dataset_cfg(tmp_path, image_size=4),
                                 global_batch_size=1, n_critic=1, seed=0))
  assert item.shape == (1, 1, 4, 4, 3)
  np.testing.assert_allclose(item, 1.0, atol=1e-5)


def test_unreadable_files_are_skipped_and_counted_in_the_log(tmp_path, caplog):
  write_images(tmp_path, 2)
  (tmp_path / "bad1.png").write_bytes(b"\x89PNG garbage")
  (tmp_path / "bad2.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
  (tmp_path / "notes.txt").write_text("not an image")
  scan = folder.scan_folder(str(tmp_path))
  assert len(scan.images) == 2 and len(scan.bad_images) == 2 and len(scan.ignored) == 1
  with caplog.at_level(logging.WARNING):
    item = next(data.make_iterator(dataset_cfg(tmp_path), global_batch_size=2,
                                   n_critic=1, seed=0))
  assert item.shape == (1, 2, 8, 8, 3)
  assert "skipped 2 unreadable image file(s) of 4" in caplog.text
  assert "bad1.png" in caplog.text


def test_truncated_jpeg_is_rejected(tmp_path):
  write_images(tmp_path, 1, fmt="JPEG")
  path = tmp_path / "img0.jpg"
  assert folder.image_problem(str(path)) is None
  path.write_bytes(path.read_bytes()[:-40])  # a truncated copy
  assert "truncated" in folder.image_problem(str(path))


@pytest.mark.parametrize("setup,message", [
    ("empty", "holds no usable JPEG/PNG image (0 unreadable, 0 other files)"),
    ("only_bad", "holds no usable JPEG/PNG image (1 unreadable, 1 other files)"),
    ("missing", "is not a directory"),
    ("no_path", "dataset.name='folder' needs dataset.path"),
])
def test_unusable_folders_are_one_clear_error(tmp_path, setup, message):
  root = tmp_path / "photos"
  if setup != "missing":
    root.mkdir()
  if setup == "only_bad":
    (root / "a.png").write_bytes(b"garbage")
    (root / "b.txt").write_text("x")
  cfg = dataset_cfg("" if setup == "no_path" else root)
  with pytest.raises(ValueError) as info:
    data.make_iterator(cfg, global_batch_size=2, n_critic=1, seed=0)
  assert message in str(info.value) and "\n" not in str(info.value)


def test_fewer_images_than_processes_is_an_error(tmp_path):
  write_images(tmp_path, 1)
  with pytest.raises(ValueError, match=r"has 1 image\(s\), fewer than the 2 processes"):
    data.make_iterator(dataset_cfg(tmp_path), global_batch_size=2, n_critic=1, seed=0,
                       process_index=1, process_count=2)


def test_image_failing_to_decode_mid_run_stops_naming_the_file(tmp_path):
  Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ok.png")
  pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
  Image.fromarray(pixels).save(tmp_path / "zeroed.jpg", "JPEG")
  raw = bytearray((tmp_path / "zeroed.jpg").read_bytes())
  middle = len(raw) // 3
  raw[middle:middle + 200] = bytes(200)  # header and end marker intact
  (tmp_path / "zeroed.jpg").write_bytes(bytes(raw))
  assert folder.image_problem(str(tmp_path / "zeroed.jpg")) is None  # passes pre-check
  it = data.make_iterator(dataset_cfg(tmp_path), global_batch_size=2, n_critic=1, seed=0)
  with pytest.raises(ValueError, match=r"failed to decode during training; "
                                       r"undecodable files: .*zeroed\.jpg"):
    next(it)


# --- the stream --------------------------------------------------------------------


def test_resume_matches_uninterrupted_across_epochs(grey_folder):
  kwargs = dict(global_batch_size=3, n_critic=2, seed=5)  # 6 per item, 11 per epoch
  reference = take(data.make_iterator(dataset_cfg(grey_folder), **kwargs), 12)
  for p in (1, 2, 7, 9):
    resumed = data.make_iterator(dataset_cfg(grey_folder), position=p, **kwargs)
    np.testing.assert_array_equal(take(resumed, 3), reference[p:p + 3])
    assert resumed.position == p + 3
  ids = grey_ids(reference)
  for epoch in range(6):  # each epoch is a permutation, reshuffled per epoch
    assert sorted(ids[11 * epoch:11 * (epoch + 1)]) == list(range(NUM_GREYS))
  assert list(ids[:11]) != list(ids[11:22])


def test_process_shards_are_disjoint_and_together_one_epoch(grey_folder):
  shards = []
  for p in range(3):
    it = data.make_iterator(dataset_cfg(grey_folder), global_batch_size=3, n_critic=1,
                            seed=0, process_index=p, process_count=3)
    size = len(range(p, NUM_GREYS, 3))  # 4, 4, 3
    ids = grey_ids(take(it, size))
    assert len(set(ids)) == size  # one epoch of a shard: no repeats
    shards.append(set(ids))
  assert not (shards[0] & shards[1] or shards[0] & shards[2] or shards[1] & shards[2])
  assert set.union(*shards) == set(range(NUM_GREYS))


def test_per_device_items_split_each_critic_batch(grey_folder):
  kwargs = dict(global_batch_size=8, n_critic=2, seed=1)
  flat = next(data.make_iterator(dataset_cfg(grey_folder), **kwargs))
  per_device = next(data.make_iterator(dataset_cfg(grey_folder), num_local_devices=4,
                                       **kwargs))
  assert per_device.shape == (4, 2, 2, 8, 8, 3)
  assert len(set(grey_ids(flat))) > 1
  for d in range(4):
    np.testing.assert_array_equal(per_device[d], flat[:, 2 * d:2 * (d + 1)])
