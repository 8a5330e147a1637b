"""jaxgan.generator.Generator: a trained generator loaded from a workdir draws what --mode=sample
draws for the same latents (raw and EMA, a population's member), on another device
count than training; its jax.export artifact, loaded where jaxgan cannot be imported,
gives the same images for several batch sizes; bad inputs and missing or damaged
workdirs are one clear error; interpolation and truncation keep their promises."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import wgan_gp
from jaxgan.generator import Generator
from jaxgan import checkpoint as checkpoint_lib
from jaxgan import cli
from jaxgan import config_io
from jaxgan import errors
from jaxgan import restore
from jaxgan import runs
from jaxgan import sample as sample_lib
from jaxgan import workdir as workdir_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def run(conditional_digits_run):
  """(config, workdir, the EMA Generator) of the shared short conditional digits run."""
  config, workdir = conditional_digits_run
  return config, workdir, Generator.load(workdir)


def test_load_reads_the_runs_shape_classes_and_newest_step_with_ema_by_default(run):
  config, _, g = run
  assert (g.z_dim, g.num_classes, g.image_shape, g.step) == (64, 10, (8, 8, 1), 3)
  assert g.class_names == tuple(str(k) for k in range(10)) and g.ema and g.member is None
  assert g.seed == config.seed


def test_sixteen_labelled_samples_lie_in_minus_one_one_and_follow_their_labels(run):
  _, _, g = run
  labels = np.arange(16) % 10
  x = g.sample(16, labels=labels)
  assert x.shape == (16, 8, 8, 1) and x.dtype == np.float32
  assert -1 <= x.min() and x.max() <= 1
  # The label changes the image for the same latent; the same (z, label) does not.
  np.testing.assert_array_equal(x[3], g.sample(16, labels=3)[3])
  assert not np.allclose(x[3], g.sample(16, labels=4)[3])


def test_generator_equals_sample_modes_grids_for_the_same_latents(run):
  config, workdir, g = run
  raw = Generator.load(workdir, ema=False)
  out = restore.sample_from_checkpoint(config, workdir)
  (_, written), = out["written"]
  z, labels = sample_lib.class_grid_inputs(config.seed, 20, g.z_dim, 10)
  np.testing.assert_array_equal(np.load(written["raw"]["labels"]), labels)
  np.testing.assert_array_equal(np.asarray(raw(z, labels)), np.load(written["raw"]["npy"]))
  np.testing.assert_array_equal(np.asarray(g(z, labels)), np.load(written["ema"]["npy"]))
  assert not np.allclose(raw(z, labels), g(z, labels))  # EMA and raw weights differ
  # --class=K's grid is g.sample of the run's seed with label K.
  one = restore.sample_from_checkpoint(config, workdir, class_id=7)
  np.testing.assert_array_equal(g.sample(20, seed=g.seed, labels=7),
                                np.load(one["written"][0][1]["ema"]["npy"]))


def test_interpolation_grid_of_sample_mode_is_slerp_between_fixed_latents(run):
  config, workdir, g = run
  out = restore.sample_from_checkpoint(config, workdir, interpolate=5, member=None)
  paths = out["written"][0][1]["ema"]
  assert paths["npy"].endswith("step_000003_ema_interpolate5.npy")
  grid = np.load(paths["npy"])
  assert grid.shape == (20, 8, 8, 1)  # num_samples // 5 = 4 rows of 5
  np.testing.assert_array_equal(np.load(paths["labels"]), np.repeat(np.arange(4), 5))
  z = sample_lib.fixed_latents(config.seed, 8, g.z_dim)
  for row in (0, 3):
    np.testing.assert_allclose(grid[5 * row:5 * row + 5],
                               g.interpolate(z[2 * row], z[2 * row + 1], 5, labels=row),
                               atol=1e-6)
  with pytest.raises(errors.ConfigError, match="--interpolate=1: an interpolation needs"):
    restore.sample_from_checkpoint(config, workdir, interpolate=1)


def test_bad_latents_and_labels_are_one_clear_error(run):
  _, _, g = run
  z = np.zeros((4, 64), np.float32)
  with pytest.raises(ValueError, match=r"z has shape \(4, 3\); this generator takes "
                                       r"latents of shape \[batch, 64\]"):
    g(z[:, :3], np.zeros(4, np.int32))
  with pytest.raises(ValueError, match=r"label 10 is not a class of this generator: it "
                                       r"has classes 0..9 \(0, 1, "):
    g(z, np.array([0, 1, 10, 2]))
  with pytest.raises(ValueError, match="label -1 is not a class"):
    g.sample(4, labels=-1)
  with pytest.raises(ValueError, match="this generator is conditional: give labels"):
    g(z)
  with pytest.raises(ValueError, match=r"labels have shape \(2,\); give one class per "
                                       r"latent, shape \(4,\)"):
    g(z, [1, 2])
  with pytest.raises(ValueError, match="labels .* must be integers"):
    g(z, np.full(4, 1.5))
  with pytest.raises(ValueError, match=r"z1 has shape \(2, 64\); interpolate takes two "
                                       r"latents of shape \(64,\)"):
    g.interpolate(z[0], z[:2], 3)
  with pytest.raises(ValueError, match="method='cubic' is not an interpolation"):
    g.interpolate(z[0], z[1], 3, method="cubic")
  with pytest.raises(ValueError, match="truncation=0 must be > 0"):
    g.sample(4, truncation=0)


def test_missing_or_damaged_workdirs_fail_as_sample_mode_does(run, tmp_path):
  config, workdir, _ = run
  missing = str(tmp_path / "nothing")
  with pytest.raises(errors.NoCheckpointError) as from_generator:
    Generator.load(missing)
  with pytest.raises(errors.NoCheckpointError) as from_sample_mode:
    restore.sample_from_checkpoint(config, missing)
  assert str(from_generator.value) == str(from_sample_mode.value)
  assert "does not exist; train first" in str(from_generator.value)
  with pytest.raises(errors.NoCheckpointError, match=r"no checkpoint for step 99 .*steps "
                                                     r"available: 3"):
    Generator.load(workdir, step=99)
  damaged = str(tmp_path / "damaged")
  shutil.copytree(workdir, damaged)
  for base, _, files in os.walk(os.path.join(damaged, "checkpoints", "3", "state")):
    for name in files:
      if not name.startswith("_"):  # the arrays, not the metadata
        with open(os.path.join(base, name), "wb") as f:
          f.write(b"\x00garbage")
  with pytest.raises(errors.CorruptCheckpointError, match="step 3"):
    Generator.load(damaged)


def test_slerp_keeps_unit_norms_and_both_interpolations_end_at_their_latents():
  z = np.asarray(jax.random.normal(jax.random.key(0), (2, 16)))
  unit = z / np.linalg.norm(z, axis=-1, keepdims=True)
  path = np.asarray(sample_lib.interpolate_latents(unit[0], unit[1], 9))
  np.testing.assert_allclose(np.linalg.norm(path, axis=-1), 1.0, atol=1e-6)
  for method in sample_lib.INTERPOLATIONS:
    path = np.asarray(sample_lib.interpolate_latents(z[0], z[1], 7, method))
    assert path.shape == (7, 16)
    np.testing.assert_allclose(path[0], z[0], atol=1e-6)
    np.testing.assert_allclose(path[-1], z[1], atol=1e-6)
  lerp = np.asarray(sample_lib.interpolate_latents(z[0], z[1], 3, "lerp"))
  np.testing.assert_allclose(lerp[1], (z[0] + z[1]) / 2, atol=1e-6)
  # Parallel latents: the great circle is the line (no division by sin 0).
  same = np.asarray(sample_lib.interpolate_latents(z[0], 2 * z[0], 3))
  np.testing.assert_allclose(same[1], 1.5 * z[0], rtol=1e-6)


def test_truncation_redraws_only_coordinates_beyond_the_threshold():
  z = np.asarray(sample_lib.fixed_latents(0, 64, 32))
  t = np.asarray(sample_lib.truncated_latents(0, 64, 32, 1.0))
  outside = np.abs(z) > 1.0
  assert outside.any() and np.all(np.abs(t) <= 1.0)
  np.testing.assert_array_equal(t[~outside], z[~outside])
  assert not np.any(t[outside] == z[outside])
  np.testing.assert_array_equal(sample_lib.truncated_latents(0, 64, 32, 100.0), z)


def test_to_uint8_rounds_as_the_sample_grids_do(run):
  _, _, g = run
  x = np.array([-1.0, -0.999, 0.0, 0.5, 1.0, 1.2]).reshape(1, 6, 1, 1)
  assert g.to_uint8(x).ravel().tolist() == [0, 0, 128, 191, 255, 255]
  assert g.to_uint8(x).dtype == np.uint8


# The artifact's loader: jaxgan made unimportable first (the venv installs it too,
# so a meta-path finder refuses it), proving it, then only jax and numpy.
_LOADER = textwrap.dedent("""
    import sys
    class NoJaxgan:
      def find_spec(self, name, path=None, target=None):
        if name == "jaxgan" or name.startswith("jaxgan."):
          raise ImportError("jaxgan is not importable here")
    sys.meta_path.insert(0, NoJaxgan())
    try:
      import jaxgan
      sys.exit("jaxgan was importable")
    except ImportError:
      pass
    import numpy as np
    from jax import export
    inputs = np.load(sys.argv[2])
    with open(sys.argv[1], "rb") as f:
      g = export.deserialize(f.read())
    out = {}
    for n in (1, 3, 16):
      args = [inputs["z"][:n]] + ([inputs["labels"][:n]] if "labels" in inputs else [])
      out[f"x{n}"] = np.asarray(g.call(*args))
    np.savez(sys.argv[3], **out)
    print(sorted(m for m in sys.modules if m.startswith("jaxgan")))
""")


def test_exported_artifact_runs_without_jaxgan_and_matches_the_generator(run, tmp_path,
                                                                          capsys):
  config, workdir, g = run
  to = str(tmp_path / "export")
  cli.export(config, workdir, None, None, to, "stablehlo")  # --mode=export --format=stablehlo
  assert "exported the EMA generator at step 3 to" in capsys.readouterr().out
  out = {"stablehlo": os.path.join(to, "generator.stablehlo"),
         "json": os.path.join(to, "generator.json")}
  with open(out["json"]) as f:
    info = json.load(f)
  assert (info["z_dim"], info["num_classes"], info["step"], info["weights"]) == (
      64, 10, 3, "ema")
  assert info["output"] == {"shape": ["batch", 8, 8, 1], "dtype": "float32",
                            "range": [-1.0, 1.0], "layout": "NHWC images"}
  assert info["class_names"] == [str(k) for k in range(10)]
  assert info["config"]["model"]["conditional"] == "acgan" and "N(0, I)" in info["latent_prior"]
  assert "cpu" in info["platforms"]
  z = np.asarray(jax.random.normal(jax.random.key(1), (16, 64)))
  labels = np.arange(16, dtype=np.int32)[::-1] % 10
  np.savez(tmp_path / "inputs.npz", z=z, labels=labels)
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  result = subprocess.run(
      [sys.executable, "-I", "-c", _LOADER, out["stablehlo"], str(tmp_path / "inputs.npz"),
       str(tmp_path / "outputs.npz")], cwd=str(tmp_path), capture_output=True, text=True,
      env=dict(env, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2"), timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip() == "[]"  # no jaxgan module was loaded
  got = np.load(tmp_path / "outputs.npz")
  for n in (1, 3, 16):
    np.testing.assert_allclose(got[f"x{n}"], g(z[:n], labels[:n]), atol=1e-5, rtol=0)
  with pytest.raises(errors.WorkdirError, match="already exists; export into a new"):
    g.export(to)


def test_flags_of_another_mode_are_refused_before_anything_is_loaded():
  with pytest.raises(errors.ConfigError, match="--format=stablehlo is for --mode=export, "
                                               "not --mode=sample"):
    cli.check_mode_flags("sample", "stablehlo", None)
  with pytest.raises(errors.ConfigError, match="--interpolate is for --mode=sample, not "
                                               "--mode=eval"):
    cli.check_mode_flags("eval", "workdir", 8)
  cli.check_mode_flags("sample", "workdir", 8)
  cli.check_mode_flags("export", "stablehlo", None)


@pytest.mark.slow
def test_generator_loads_on_three_devices_a_run_trained_on_one(run, tmp_path):
  """Batch 16 does not split over 3 devices: the generator's set-up uses one."""
  _, workdir, g = run
  z, labels = sample_lib.class_grid_inputs(0, 20, 64, 10)
  script = textwrap.dedent(f"""
      import jax, numpy as np
      from jaxgan.generator import Generator
      from jaxgan import sample
      assert jax.device_count() == 3
      g = Generator.load({workdir!r})
      z, labels = sample.class_grid_inputs(0, 20, 64, 10)
      np.save({str(tmp_path / "x.npy")!r}, np.asarray(g(z, labels)))
  """)
  result = subprocess.run(
      [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
      env=dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT,
               XLA_FLAGS="--xla_force_host_platform_device_count=3"))
  assert result.returncode == 0, result.stderr[-2000:]
  np.testing.assert_allclose(np.load(tmp_path / "x.npy"), g(z, labels), atol=1e-6)


def test_a_population_members_generator_equals_its_sample_grid(tmp_path):
  """A 2-member digits population's checkpoint, as training saves it, of its initial
  state (the members' weights already differ by seed; no step to compile)."""
  config = wgan_gp.get_config()
  config.model.hidden = (16, 16)
  config.train.batch_size = 16
  config.population.size = 2
  config.log.num_samples = 16
  workdir = workdir_lib.Workdir(str(tmp_path / "pop"))
  workdir.write_config(config)
  with contextlib.closing(checkpoint_lib.Checkpointer(workdir.checkpoints)) as ckpt:
    ckpt.save(0, runs.setup(config).init_state(), data_position=0,
              config_json=config_io.to_json(config))
  workdir = workdir.path
  g = Generator.load(workdir, member=1)
  assert (g.member, g.seed, g.step, g.num_classes, g.ema) == (1, 1, 0, 0, False)
  out = restore.sample_from_checkpoint(config, workdir, member=1)
  np.testing.assert_array_equal(g.sample(16, seed=g.seed),
                                np.load(out["written"][0][1]["raw"]["npy"]))
  assert not np.allclose(g.sample(16, seed=1), Generator.load(workdir, member=0).sample(
      16, seed=1))  # the members' weights differ
  with pytest.raises(errors.ConfigError, match="ema=True: this run keeps no EMA"):
    Generator.load(workdir, member=1, ema=True)
  with pytest.raises(errors.ConfigError, match="a population of 2 members; name one"):
    Generator.load(workdir)
  with pytest.raises(ValueError, match="labels given to an unconditional generator"):
    g(jnp.zeros((2, 64)), [0, 1])
