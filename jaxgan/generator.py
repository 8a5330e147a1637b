"""A trained generator as a Python object, and as an artifact that needs no jaxgan.

    from jaxgan.generator import Generator
    g = Generator.load("runs/acgan")           # newest checkpoint; EMA if the run keeps one
    images = g.sample(16, labels=3)            # [16, 8, 8, 1] in [-1, 1]
    g.export("runs/acgan_export")              # generator.stablehlo + generator.json

`Generator.load` restores a checkpoint through the path --mode=sample takes
(restore.restore_member: runs.setup, the checkpoint's restore), on one device
whatever the run trained on, and keeps the generator's weights only. Every output
comes from sample.generate_eval, the one function --mode=sample and the
evaluations run the generator with; latents come from the same streams as the
sample grids (sample.fixed_latents), so `g.sample(n, seed=g.seed)` is the grid's
latent batch.

The latent prior is the run's: N(0, I) of model.z_dim in every jaxgan config
(train._latents). `truncation=t` is BigGAN's truncation trick (Brock et al. 2019,
Sec. 3.1), which resamples coordinates beyond +-t rather than clipping them
(sample.truncated_latents).

`export` writes the generator with its weights baked in as constants, through
jax.export with a symbolic batch dimension: jax.export.deserialize of
generator.stablehlo and `.call(z)` (`.call(z, labels)` for a conditional run)
need only jax and numpy. generator.json says what a caller needs: shapes, classes,
range, the latent prior, the run's config and step.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan import config_io
from jaxgan import errors
from jaxgan import fileio
from jaxgan import restore as restore_lib
from jaxgan import sample as sample_lib
from jaxgan import train as train_lib
from jaxgan import workdir as workdir_lib

ARTIFACT = "generator.stablehlo"
DESCRIPTION = "generator.json"
# Platforms the artifact is lowered for (jax.export lowers for each on any machine).
PLATFORMS = ("cpu", "cuda", "tpu")
LATENT_PRIOR = "standard normal N(0, I), one z_dim vector per example (train._latents)"

_HOW_TO_CALL = """\
import json, numpy as np, jax
from jax import export
info = json.load(open("{dir}/generator.json"))
g = export.deserialize(open("{dir}/generator.stablehlo", "rb").read())
z = np.random.default_rng(0).standard_normal((16, info["z_dim"]), dtype=np.float32)
{call}
pixels = np.clip((np.asarray(x) + 1) * 127.5, 0, 255).round().astype(np.uint8)"""


def check_export_target(directory: str) -> None:
  """Raises errors.WorkdirError if `directory` cannot take an export (a file, or an
  export already there: nothing is overwritten)."""
  path = os.path.abspath(os.path.expanduser(directory))
  if os.path.exists(path) and not os.path.isdir(path):
    raise errors.WorkdirError(f"--to={path} is a file; export into a new or empty directory")
  for name in (ARTIFACT, DESCRIPTION):
    if os.path.exists(os.path.join(path, name)):
      raise errors.WorkdirError(f"{os.path.join(path, name)} already exists; export into "
                                f"a new or empty --to directory")


@dataclasses.dataclass(frozen=True, eq=False)
class Generator:
  """A run's trained generator (one member of a population), restored on one device.

  Attributes: z_dim; num_classes (0: unconditional) and class_names; image_shape
  (one example's, e.g. (8, 8, 1), or (2,) for 2-D points); step, seed (the run's,
  or the member's: the seed of its sample grids), ema (whether these are the EMA
  weights), member (None for a single run) and config (the run's, or the member's).
  """

  spec: train_lib.StepSpec
  params: Any                 # the generator's weights (raw or EMA)
  batch_stats: Any            # its BatchNorm running statistics ({} if none)
  config: ml_collections.ConfigDict
  class_names: tuple[str, ...]
  image_shape: tuple[int, ...]
  step: int
  ema: bool
  member: int | None

  @property
  def z_dim(self) -> int:
    return self.spec.z_dim

  @property
  def num_classes(self) -> int:
    return self.spec.num_classes

  @property
  def seed(self) -> int:
    return self.config.seed

  # --- Loading -------------------------------------------------------------------------

  @classmethod
  def load(cls, workdir: str, step: int | None = None, ema: bool | None = None,
           member: int | None = None) -> "Generator":
    """The generator of checkpoint `step` (None: the newest) of the run in `workdir`.

    `ema`: the EMA weights (None: when the run keeps them, else the raw ones);
    `member`: which member of a population. Raises errors.NoCheckpointError,
    WorkdirError, CorruptCheckpointError, ... (the one-line errors of --mode=sample)
    for a missing or damaged workdir, errors.ConfigError for a bad `member`.
    """
    wd = workdir_lib.Workdir(workdir)
    wd.check_readable_run()
    return cls.from_config(wd.read_config(log_upgrade=False), workdir, step, ema=ema,
                           member=member)

  @classmethod
  def from_config(cls, config, workdir: str, step: int | None = None, *,
                  ema: bool | None = None, member: int | None = None) -> "Generator":
    """`load` with the run's config given (launch.py's, which may override log.*)."""
    if ema and not config.ema.enabled:
      raise errors.ConfigError("ema=True: this run keeps no EMA generator "
                               "(ema.enabled=False); load its raw weights (ema=None)")
    use_ema = config.ema.enabled if ema is None else bool(ema)
    run, m, state, own_step = restore_lib.restore_member(
        config, workdir, step, member, devices=jax.local_devices()[:1])
    device = jax.local_devices()[0]
    params = state.ema_params if use_ema else state.generator_params
    return cls(spec=run.spec, params=jax.device_put(params, device),
               batch_stats=jax.device_put(state.generator_batch_stats, device),
               config=m.config, class_names=tuple(run.classes),
               image_shape=tuple(run.data_shape), step=own_step, ema=use_ema,
               member=member)

  # --- Drawing -------------------------------------------------------------------------

  def __call__(self, z, labels=None) -> jax.Array:
    """Samples [B, *image_shape] in [-1, 1] of latents z [B, z_dim] (and, for a
    conditional run, classes `labels` [B] or one int for all); a compiled pure
    function of the weights, z and labels. Raises ValueError for a z of another
    shape, labels an unconditional run cannot take or classes it does not have."""
    z = self._check_latents(z)
    return sample_lib.generate_eval_jit(self.spec, self.params, self.batch_stats, z,
                  self._check_labels(labels, z.shape[0]))

  def sample(self, n: int, seed: int = 0, labels=None,
             truncation: float | None = None) -> np.ndarray:
    """`n` samples (host float32 [n, *image_shape]) of the latents seeded by `seed`
    (sample.fixed_latents: seed=g.seed gives the sample grids' latents).

    `labels`: a conditional run's classes, [n] or one int (None: 0, 1, ..., K-1
    repeated). `truncation`: BigGAN's truncation trick, latent coordinates beyond
    +-truncation redrawn inside it (sample.truncated_latents); None: the prior.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
      raise ValueError(f"n={n!r}: the number of samples must be an int >= 1")
    if truncation is None:
      z = sample_lib.fixed_latents(seed, int(n), self.z_dim)
    else:
      if not truncation > 0:
        raise ValueError(f"truncation={truncation!r} must be > 0 (a threshold on |z|, e.g. "
                         f"1.0), or None for the prior")
      z = sample_lib.truncated_latents(seed, int(n), self.z_dim, float(truncation))
    if labels is None and self.num_classes:
      labels = np.arange(n) % self.num_classes
    return self._output(z, self._check_labels(labels, n))

  def interpolate(self, z0, z1, steps: int, method: str = "slerp",
                  labels=None) -> np.ndarray:
    """Samples (host float32 [steps, *image_shape]) along the path from latent z0 to
    z1 ([z_dim] each), both ends included: "slerp" (great circle) or "lerp"
    (straight line), sample.interpolate_latents. `labels`: a conditional run's class
    along the path (one int; None: class 0) or one per step."""
    for v, name in ((z0, "z0"), (z1, "z1")):
      if tuple(np.shape(v)) != (self.z_dim,):
        raise ValueError(f"{name} has shape {tuple(np.shape(v))}; interpolate takes two "
                         f"latents of shape ({self.z_dim},)")
    z = sample_lib.interpolate_latents(z0, z1, steps, method)
    if labels is None and self.num_classes:
      labels = 0
    return self._output(z, self._check_labels(labels, steps))

  def to_uint8(self, x) -> np.ndarray:
    """Images in [-1, 1] -> uint8 pixels in [0, 255] (as the sample grids round them)."""
    if len(self.image_shape) != 3:
      raise ValueError(f"to_uint8 is for images; this generator draws points of shape "
                       f"{self.image_shape}")
    return sample_lib.to_uint8(np.asarray(x))

  def _output(self, z, labels) -> np.ndarray:
    """sample.generator_output of these weights (host float32)."""
    state = _weights_state(self.params, self.batch_stats)
    return sample_lib.generator_output(self.spec, state, z, labels=labels)

  def _check_latents(self, z, name: str = "z"):
    shape = tuple(np.shape(z))
    if len(shape) != 2 or shape[1] != self.z_dim or shape[0] < 1:
      raise ValueError(f"{name} has shape {shape}; this generator takes latents of shape "
                       f"[batch, {self.z_dim}] (batch >= 1, z_dim {self.z_dim})")
    return jnp.asarray(z, jnp.float32)

  def _check_labels(self, labels, batch: int):
    """labels as int32 [batch] (a conditional run), None (unconditional); ValueError."""
    if not self.num_classes:
      if labels is not None:
        raise ValueError("labels given to an unconditional generator (model.conditional="
                         "'none'); call it with latents only")
      return None
    allowed = (f"classes 0..{self.num_classes - 1} "
               f"({', '.join(self.class_names)})" if self.class_names else
               f"classes 0..{self.num_classes - 1}")
    if labels is None:
      raise ValueError(f"this generator is conditional: give labels, one per latent, "
                       f"from {allowed}")
    try:
      values = np.asarray(labels)
    except jax.errors.TracerArrayConversionError:
      values = None  # traced (g inside jax.jit): the range cannot be checked here
    if values is not None:
      if values.ndim == 0:
        values = np.full((batch,), values)
      if values.dtype.kind not in "iu":
        raise ValueError(f"labels {values.tolist()[:8]} must be integers: {allowed}")
      bad = values[(values < 0) | (values >= self.num_classes)]
      if bad.size:
        raise ValueError(f"label {int(bad[0])} is not a class of this generator: it has "
                         f"{allowed}")
      labels = values
    if tuple(np.shape(labels)) != (batch,):
      raise ValueError(f"labels have shape {tuple(np.shape(labels))}; give one class per "
                       f"latent, shape ({batch},), or one int")
    return jnp.asarray(labels, jnp.int32)

  # --- Export --------------------------------------------------------------------------

  def exported(self, platforms=PLATFORMS) -> jax.export.Exported:
    """The generator as a jax.export.Exported: weights baked in as constants, a
    symbolic batch, z float32 [batch, z_dim] (and labels int32 [batch] if conditional)
    -> float32 [batch, *image_shape], lowered for `platforms`."""
    spec, params, batch_stats = self.spec, self.params, self.batch_stats
    batch = jax.export.symbolic_shape("batch")
    args = [jax.ShapeDtypeStruct((*batch, self.z_dim), jnp.float32)]
    if self.num_classes:
      args.append(jax.ShapeDtypeStruct(batch, jnp.int32))
      fn = lambda z, labels: sample_lib.generate_eval(spec, params, batch_stats, z, labels)
    else:
      fn = lambda z: sample_lib.generate_eval(spec, params, batch_stats, z)
    return jax.export.export(jax.jit(fn), platforms=platforms)(*args)

  def description(self, directory: str = "DIR") -> dict:
    """What generator.json says: how to call the artifact and what it returns."""
    conditional = bool(self.num_classes)
    call = ("labels = np.arange(16, dtype=np.int32) % info['num_classes']\n"
            "x = g.call(z, labels)" if conditional else "x = g.call(z)")
    return {
        "format": "jax.export (serialized StableHLO); load with "
                  "jax.export.deserialize(bytes), call with .call(...)",
        "file": ARTIFACT,
        "inputs": [{"name": "z", "shape": ["batch", self.z_dim], "dtype": "float32"}] + (
            [{"name": "labels", "shape": ["batch"], "dtype": "int32",
              "values": f"0..{self.num_classes - 1} (class_names[k] names class k; "
                        f"outside that range the result is undefined)"}]
            if conditional else []),
        "output": {"shape": ["batch", *self.image_shape], "dtype": "float32",
                   "range": [-1.0, 1.0],
                   "layout": "NHWC images" if len(self.image_shape) == 3 else "2-D points"},
        "z_dim": self.z_dim,
        "latent_prior": LATENT_PRIOR,
        "num_classes": self.num_classes,
        "class_names": list(self.class_names),
        "step": self.step,
        "member": self.member,
        "weights": "ema" if self.ema else "raw",
        "how_to_call": _HOW_TO_CALL.format(dir=directory, call=call),
        "config": config_io.to_json(self.config),
    }

  def export(self, directory: str) -> dict:
    """Writes DIR/generator.stablehlo (jax.export's serialized bytes) and
    DIR/generator.json (`description`); returns {"stablehlo", "json"}: their paths.
    Raises errors.WorkdirError if DIR already holds an export."""
    check_export_target(directory)
    exported = self.exported()
    info = dict(self.description(os.path.abspath(directory)), jax_version=jax.__version__,
                platforms=list(exported.platforms))
    blob = exported.serialize()
    path = os.path.join(directory, ARTIFACT)
    fileio.write_atomic(path, lambda f: f.write(blob))
    text = json.dumps(info, indent=2)
    described = fileio.write_atomic(os.path.join(directory, DESCRIPTION),
                                    lambda f: f.write(text + "\n"), mode="w")
    return {"stablehlo": os.path.abspath(path), "json": os.path.abspath(described)}

  def __repr__(self) -> str:
    who = f", member {self.member}" if self.member is not None else ""
    classes = f", {self.num_classes} classes" if self.num_classes else ""
    return (f"Generator(step {self.step}{who}, {'ema' if self.ema else 'raw'} weights, "
            f"z_dim {self.z_dim}{classes}, image_shape {self.image_shape})")


def _weights_state(params, batch_stats) -> train_lib.GANState:
  """A GANState holding only the generator's weights (what generator_output reads)."""
  return train_lib.GANState(step=jnp.zeros((), jnp.int32), generator_params=params,
                            generator_batch_stats=batch_stats, critic_params={},
                            generator_opt_state={}, critic_opt_state={}, ema_params={},
                            key=jnp.zeros((2,), jnp.uint32))


def export_generator(config, workdir: str, to: str, step: int | None = None,
                     member: int | None = None) -> dict:
  """Writes the run's generator (EMA when the run keeps one) as a jax.export
  artifact: TO/generator.stablehlo and TO/generator.json (--mode=export
  --format=stablehlo).
  Returns Generator.export's {"stablehlo", "json", "generator"}. Raises
  errors.WorkdirError if `to` already holds an export."""
  check_export_target(to)
  g = Generator.from_config(config, workdir, step, member=member)
  return dict(g.export(to), generator=g)
