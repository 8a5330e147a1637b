"""Train-step throughput: jaxgan's compiled step beside a PyTorch reference, in one run.

    pip install -e '.[bench]'     # adds torch (CPU build; a CUDA build times the twin on a GPU)
    python benchmarks/step_throughput.py [--repeats 7] [--only 1,2] [--out DIR] [--threads 1]
    python benchmarks/step_throughput.py --only 6,7 --resnet-width 16 --repeats 1 --out /tmp/smoke
    python benchmarks/step_throughput.py --members 1,2,4,8 --only 3,1   # populations
    python benchmarks/step_throughput.py --devices 4 --only 1,2         # forced CPU devices

Cases (--only): 1 WGAN-GP toy MLP 2-512x3, batch 256, n_critic 5 (wgan_gp.py:
dataset=8gaussians); 2 WGAN-GP DCGAN 32x32x3, width 64, batch 64 (wgan_gp.py:
dataset=cifar10); 3 the default digits recipe (wgan_gp.py); 4 DRAGAN on the case-2
DCGAN (dragan.py:dataset=cifar10, n_critic 1); 5 the critic update alone
(train.critic_update) without a penalty and with each penalty method, on the case-1,
2 and 6 critics; 6 WGAN-GP's CIFAR-10 ResNet (wgan_gp.py:dataset=cifar10,arch=resnet,
width 128, generator batch 128, dequantised reals), with a bf16 row; 7 SNGAN
(sngan.py:dataset=cifar10). --resnet-width N shrinks the ResNets of cases 5-7 for
smoke runs (said in the meta). Extra rows put a number beside every default: the
other penalty method (1, 2, 4, 6), the other critic loop (train.critic_unroll; 1, 2,
3), the other upsampling (2), DRAGAN's generator update alone (4.generator) and, on
the MLP steps (1, 3), no donation, a host sync every step, the batch fed from host
memory, and matmul precision "highest".

jaxgan's side is built as a run builds it (jaxgan.runs.setup, Setup.compile: state
donated, batch sharded), compiled ahead of time with the persistent cache off
(compile_s). The PyTorch twin (references/torch_reference.py) runs in a child
process; a second twin flushes denormals to zero as XLA:CPU does
(jax_over_torch_ftz). Every member of a group (twins and the jaxgan variants compared
with them) is warmed up, calibrated to ~0.4 s per repeat, and the repeats run
round-robin so a change of load hits all alike; a row's time is the median over
repeats. Per row: generator it/s, critic updates/s, examples/s, jax/torch, compile
time, XLA's FLOPs per call (a rolled loop takes its unrolled twin's: XLA counts a
loop body once), achieved GFLOP/s and its fraction of the matmul peak measured in the
run. Output: JSON rows on stdout, <out>/step_throughput.{json,md} with the run's
machine, device kind and package versions.

--members K1,K2,...: per selected training case and K, a population of K members in
one compiled step (population.method vmap, map and unroll) against its K single runs trained
one after another (each member's own runs.setup), round-robin: member-steps/s,
population_over_sequential (by wall and by CPU time of this process), compile
times, fraction of peak. Output: <out>/population.{json,md}.

--devices N: runs again in a child with N forced CPU devices (XLA_FLAGS, fixed when
JAX starts); each selected training case steps its global batch on a mesh of 1 and
of N devices, round-robin: it/s and over_one_device. N CPU devices share the cores:
this measures the data-parallel step's overhead. Output: <out>/multi_device.{json,md}.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
DEVICES_FLAG = "--xla_force_host_platform_device_count"


def _forced_devices():
  """With --devices N, runs again with N CPU devices unless this is that run."""
  argv = " ".join(sys.argv[1:]).replace("--devices ", "--devices=").split()
  n = int(next((a.split("=", 1)[1] for a in argv if a.startswith("--devices=")), 0))
  if n and f"{DEVICES_FLAG}={n}" not in os.environ.get("XLA_FLAGS", ""):
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {DEVICES_FLAG}={n}".strip())
    sys.exit(subprocess.run([sys.executable, *sys.argv], env=env, check=False).returncode)


if __name__ == "__main__":
  _forced_devices()  # before JAX starts: its device count is fixed then

import jax  # noqa: E402
import jaxlib  # noqa: E402

import run_meta  # noqa: E402  (benchmarks/, on sys.path as the script's dir)
import numpy as np  # noqa: E402

from jaxgan import factory, mesh, population, runs, train, xla_cpu  # noqa: E402
from jaxgan.models import RESNET_ARCHS  # noqa: E402

# How a population's step runs its members: population.METHODS but "auto", each timed.
POPULATION_METHODS = tuple(m for m in population.METHODS if m != "auto")

TOY, DCGAN, DIGITS = "dataset=8gaussians", "dataset=cifar10", None
RESNET, SNGAN = "dataset=cifar10,arch=resnet", "dataset=cifar10"
# The training cases --members and --devices run: (case, recipe, variant).
TRAIN_CASES = {"1": ("toy", "wgan_gp", TOY), "2": ("dcgan", "wgan_gp", DCGAN),
               "3": ("digits", "wgan_gp", DIGITS), "4": ("dragan", "dragan", DCGAN),
               "6": ("resnet", "wgan_gp", RESNET), "7": ("sngan", "sngan", SNGAN)}
RESNET_WIDTH = [0]  # --resnet-width (0: the recipes' widths)
# An extra PyTorch twin that flushes denormals to zero, as XLA:CPU always does; the
# main twins keep PyTorch's (and the seeds') default float environment.
FTZ = {"torch.worker": "ftz"}
REPEAT_SECONDS = 0.4   # calibrated length of one timed repeat
MAX_CALLS = 200


def make_config(recipe, variant, overrides=None):
  """The recipe's config with `overrides` ({"penalty.method": "jvp", ...}) applied."""
  config = run_meta.recipe_config(recipe, variant, overrides)
  if config.model.arch in RESNET_ARCHS and RESNET_WIDTH[0]:
    config.model.width = RESNET_WIDTH[0]
    config.model.generator_width = 2 * RESNET_WIDTH[0] if config.model.arch == "sngan" else 0
  return config


def torch_spec(config, shape):
  """What torch_reference.Reference needs to mirror `config` (same model, maths, batch)."""
  m, pen = config.model, config.penalty

  def opt(o, num_updates):
    assert o.name == "adam", "the reference implements Adam"
    assert o.schedule in ("constant", "linear"), o.schedule
    return {"learning_rate": o.learning_rate, "b1": o.b1, "b2": o.b2, "eps": o.eps,
            "schedule": o.schedule, "num_updates": num_updates}

  updates = factory.num_updates(config)  # what jaxgan's schedules span
  return {
      "arch": m.arch, "data_shape": list(shape), "z_dim": m.z_dim,
      "hidden": list(m.hidden), "width": m.width, "generator_width": m.generator_width,
      "upsample": m.upsample, "generator_batch_norm": m.generator_batch_norm,
      "bn_momentum": m.bn_momentum, "bn_epsilon": m.bn_epsilon,
      "critic_norm": m.critic_norm, "spectral_norm": m.spectral_norm,
      "loss": config.loss.name,
      "penalty": {"name": pen.name, "weight": pen.weight, "target": pen.target,
                  "one_sided": pen.one_sided, "perturbation": pen.perturbation,
                  "noise_variance": pen.noise_variance, "noise_scale": pen.noise_scale},
      "n_critic": config.train.n_critic, "batch_size": config.train.batch_size,
      "generator_batch_size": config.train.generator_batch_size,
      "dequantization": config.train.dequantization,
      "critic_opt": opt(config.optimizer.critic, updates["critic"]),
      "generator_opt": opt(config.optimizer.generator, updates["generator"]),
  }


def real_batch(run):
  """A real batch as the step takes it: [K?, n_critic, B, ...] uniform in [-1, 1]."""
  lead = (len(run.runs),) if run.runs.many else ()
  size = lead + (run.config.train.n_critic, run.config.train.batch_size) + run.data_shape
  return np.random.default_rng(0).uniform(-1.0, 1.0, size).astype(np.float32)


def _flops(compiled):
  cost = compiled.cost_analysis()
  return float(cost.get("flops", math.nan)) if cost else math.nan


def _num_params(tree):
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


class JaxMember:
  """One jaxgan variant (a run, or a population): its compiled step and a timed runner.

  mode "train" is the step a run compiles (Setup.compile); "critic" and "generator"
  jit train.critic_update / train.generator_update alone on the same state.
  """

  def __init__(self, config, mode="train", *, donate=True, host_batch=False,
               sync_each_step=False, precision=None, devices=1):
    self.config, self.mode, self.sync_each_step = config, mode, sync_each_step
    run = runs.setup(config, devices=jax.devices()[:devices])
    self.spec = run.spec
    state = run.init_state()
    one = run.runs.member_state(state, 0)  # a population: its first member
    self.num_params = {"generator_params": _num_params(one.generator_params),
                       "critic_params": _num_params(one.critic_params)}
    real = real_batch(run)
    ctx = (jax.default_matmul_precision(precision) if precision
           else contextlib.nullcontext())
    start = time.perf_counter()
    with ctx:
      if mode == "train" and donate:
        self.compiled, state = run.compile(state)
      elif mode == "train":  # the same step without donation (Setup.compile donates)
        state = mesh.put_state(state, run.mesh)
        step = jax.jit(functools.partial(mesh.step_on_batch, spec=run.spec),
                       in_shardings=(mesh.state_sharding(run.mesh),
                                     mesh.batch_sharding(run.mesh)))
        with jax.set_mesh(run.mesh):
          self.compiled = step.lower(state, run.batch_shape()).compile()
      else:
        real = real[0]
        key = jax.random.PRNGKey(2 if mode == "generator" else 1)
        if mode == "generator":
          fn = lambda state, real: train.generator_update(run.spec, state, real.shape[0], key)
        else:
          fn = lambda state, real: train.critic_update(run.spec, state, real, key)
        # On device once (as the trainer's prefetch leaves it), or numpy each call.
        self.compiled = jax.jit(fn, donate_argnums=0 if donate else ()).lower(
            state, real).compile()
    self.compile_s = time.perf_counter() - start
    if mode == "train":
      self.real = real if host_batch else run.global_batch(real)
    else:
      self.real = real if host_batch else jax.device_put(real)
    self.flops = _flops(self.compiled)
    self.state = state

  def run(self, calls):
    """Seconds for `calls` calls, ending when the device is done."""
    state, real, compiled = self.state, self.real, self.compiled
    start = time.perf_counter()
    for _ in range(calls):
      state, metrics = compiled(state, real)
      if self.sync_each_step:
        jax.device_get(metrics)
    jax.block_until_ready((state, metrics))
    self.state = state
    return time.perf_counter() - start


class Sequential:
  """The K single runs of a population config, trained one after another: each
  member's own runs.setup and compiled step, called for each member in turn."""

  def __init__(self, population_config):
    self.members, self.compile_s = [], 0.0
    for member in runs.setup(population_config, devices=jax.devices()[:1]).runs.members:
      run = runs.setup(member.config, devices=jax.devices()[:1])
      start = time.perf_counter()
      step, state = run.compile(run.init_state())
      self.compile_s += time.perf_counter() - start
      self.members.append([step, state, run.global_batch(real_batch(run))])
    self.flops = _flops(self.members[0][0])

  def run(self, calls):
    start = time.perf_counter()
    for _ in range(calls):
      for m in self.members:
        m[1], metrics = m[0](m[1], m[2])
    jax.block_until_ready(([m[1] for m in self.members], metrics))
    return time.perf_counter() - start


class TorchWorker:
  """The PyTorch reference in a child process (references/torch_reference.py)."""

  def __init__(self, flush_denormal, threads=None):
    self.proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "references", "torch_reference.py")]
        + (["--flush-denormal"] if flush_denormal else [])
        + ([f"--threads={threads}"] if threads else []),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    self.info = self.call(cmd="info")

  def call(self, **msg):
    self.proc.stdin.write(json.dumps(msg) + "\n")
    self.proc.stdin.flush()
    line = self.proc.stdout.readline()
    if not line:
      raise RuntimeError("the PyTorch worker exited (see its stderr above)")
    answer = json.loads(line)
    if "error" in answer:
      raise RuntimeError(f"PyTorch worker: {answer['error']}")
    return answer

  def close(self):
    with contextlib.suppress(Exception):
      self.call(cmd="quit")
    self.proc.wait(timeout=30)


class TorchMember:
  """One PyTorch twin living in `worker`."""
  _keys = itertools.count()

  def __init__(self, worker, config, mode):
    self.worker, self.mode, self.key = worker, mode, f"m{next(self._keys)}"
    spec = torch_spec(config, runs.setup(config).data_shape)
    self.num_params = worker.call(cmd="build", key=self.key, spec=spec)

  def run(self, calls):
    return self.worker.call(cmd="run", key=self.key, mode=self.mode, n=calls)["seconds"]

  def drop(self):
    self.worker.call(cmd="drop", key=self.key)


def time_group(members, repeats, *, single=False, cpu=None):
  """{name: [seconds per call, one per repeat]} timed round-robin (see module doc).

  `cpu`, a dict, receives the same per call in CPU-seconds of this process.
  """
  calls = {}
  for name, member in members.items():
    member.run(1)  # first call: allocation, autotuning, lazy init
    if single:
      calls[name] = 1
      continue
    warm = member.run(1)
    calls[name] = int(min(MAX_CALLS, max(1, round(REPEAT_SECONDS / max(warm, 1e-6)))))
  times = {name: [] for name in members}
  for _ in range(1 if single else repeats):
    for name, member in members.items():
      start = time.process_time()
      times[name].append(member.run(calls[name]) / calls[name])
      if cpu is not None:
        cpu.setdefault(name, []).append((time.process_time() - start) / calls[name])
  return times, calls


def _rates(config, mode, seconds):
  """Rates of one call: a train step, a critic update or a generator update."""
  if mode == "generator":  # generator updates/s; examples = fakes the update makes
    return {"generator_it_per_s": 1.0 / seconds, "critic_steps_per_s": None,
            "examples_per_s": config.train.batch_size / seconds}
  n_critic = config.train.n_critic if mode == "train" else 1
  return {
      "generator_it_per_s": 1.0 / seconds if mode == "train" else None,
      "critic_steps_per_s": n_critic / seconds,
      "examples_per_s": n_critic * config.train.batch_size / seconds,
  }


def make_row(row_id, case, variant, recipe, arg, overrides, jm, times, calls, twins,
             flops_from=None, note=""):
  """One flat JSON row: the jaxgan variant, its PyTorch twins ({name: (times, calls)},
  the first one's jax_over_torch, the others' jax_over_<name>) and the ratios."""
  config, mode = jm.config, jm.mode
  sec = statistics.median(times)
  flops = jm.flops if flops_from is None else flops_from
  row = {
      "row": row_id, "case": case, "variant": variant,
      "config": f"configs/{recipe}.py" + (f":{arg}" if arg else ""),
      "overrides": overrides or {}, "step": mode,
      "batch_size": config.train.batch_size,
      "n_critic": (config.train.n_critic if mode == "train"
                   else 0 if mode == "generator" else 1),
      "penalty": config.penalty.name, "penalty_method": jm.spec.penalty.method,
      "critic_unroll": jm.spec.unroll, "model": config.model.arch,
      "upsample": config.model.upsample if config.model.arch == "dcgan" else None,
      "ms_per_call": 1e3 * sec,
  }
  row.update(_rates(config, mode, sec))
  row.update({
      "compile_s": jm.compile_s,
      "xla_gflop_per_call": jm.flops / 1e9,
      "gflop_per_call": flops / 1e9,
      "achieved_gflop_s": flops / sec / 1e9,
      "repeats": len(times), "calls_per_repeat": calls,
      "spread_ms": [1e3 * min(times), 1e3 * max(times)],
      "load_1min_after": os.getloadavg()[0],
  })
  if flops_from is not None:
    row["flops_note"] = "XLA counts a while-loop body once; FLOPs of the unrolled twin"
  for i, (name, (twin_times, twin_calls)) in enumerate(twins.items()):
    tsec = statistics.median(twin_times)
    if i:
      row[f"{name}_ms_per_call"] = 1e3 * tsec
      row[f"jax_over_{name}"] = tsec / sec
      continue
    row.update({
        "torch_twin": name, "torch_ms_per_call": 1e3 * tsec,
        "torch_generator_it_per_s": 1.0 / tsec if mode in ("train", "generator") else None,
        "torch_critic_steps_per_s": _rates(config, mode, tsec)["critic_steps_per_s"],
        "torch_calls_per_repeat": twin_calls,
        "jax_over_torch": tsec / sec,
    })
  if note:
    row["note"] = note
  return row


def _round(value):
  if isinstance(value, float):
    return float(f"{value:.4g}")
  if isinstance(value, list):
    return [_round(v) for v in value]
  return value


def emit(rows, row):
  """Rounds `row`, appends it to `rows` and prints it as a JSON line."""
  rows.append({k: _round(v) for k, v in row.items()})
  print(json.dumps(rows[-1]), flush=True)


class Bench:
  """Runs the groups, prints and collects the rows."""

  def __init__(self, repeats, workers):
    self.repeats, self.workers, self.rows = repeats, workers, []
    self.twins = {}  # twin name -> (parameter counts, times, calls) of its latest group

  def group(self, case, recipe, arg, variants, *, torch_mode="train", torch_twins=None,
            single=False, note=""):
    """variants: (row_id, label, overrides, jax kwargs, twin name(s) or None).

    torch_twins: {twin name: config overrides}, timed with the variants;
    "torch.worker": "ftz" puts the twin in the PyTorch process that flushes
    denormals (else: PyTorch's default). A variant may name a twin of an earlier
    group. single: one warm-up and one timed call per member.
    """
    members, rows = {}, {}
    for name, over in (torch_twins or {}).items():
      worker = self.workers[over.get("torch.worker", "default")]
      over = {k: v for k, v in over.items() if not k.startswith("torch.")}
      members[name] = TorchMember(worker, make_config(recipe, arg, over), torch_mode)
    for row_id, label, over, kwargs, twin in variants:
      kwargs = dict(kwargs)
      jm = members[row_id] = JaxMember(make_config(recipe, arg, over),
                                       kwargs.pop("mode", "train"), **kwargs)
      names = () if twin is None else (twin,) if isinstance(twin, str) else tuple(twin)
      for name in names:  # the same architecture
        tw = members[name].num_params if name in members else self.twins[name][0]
        assert tw == jm.num_params, (row_id, name, tw, jm.num_params)
      rows[row_id] = (label, over, names)
    times, calls = time_group(members, self.repeats, single=single)
    for name in torch_twins or {}:
      self.twins[name] = (members[name].num_params, times[name], calls[name])
      members[name].drop()
    for row_id, (label, over, names) in rows.items():
      twins = {n: self.twins[n][1:] for n in names}
      emit(self.rows, make_row(row_id, case, label, recipe, arg, over, members[row_id],
                               times[row_id], calls[row_id], twins,
                               flops_from=unrolled_flops(members[row_id]), note=note))


def unrolled_flops(jm):
  """XLA counts a while-loop body once: a rolled step's FLOPs come from compiling the
  same config fully unrolled (not timed). None for members without a rolled loop."""
  if jm.mode != "train" or jm.spec.unroll >= jm.spec.n_critic:
    return None
  config = jm.config.copy_and_resolve_references()
  config.train.critic_unroll = config.train.n_critic
  key = config.to_json()
  if key not in _UNROLLED_FLOPS:
    _UNROLLED_FLOPS[key] = JaxMember(config).flops
  return _UNROLLED_FLOPS[key]


_UNROLLED_FLOPS = {}


OVERHEADS = [  # (label, jax kwargs): rows 1.x1-1.x4 and 3.x1-3.x3
    ("no donation", {"donate": False}),
    ("host sync every step", {"sync_each_step": True}),
    ("real batch from host each step", {"host_batch": True}),
    ('matmul precision "highest"', {"precision": "highest"}),
]


def _method_variant(row_id, recipe, arg):
  """The penalty method the default does not use."""
  method = make_config(recipe, arg).penalty.method
  other = "jvp" if method == "double_backward" else "double_backward"
  return (row_id, f"penalty.method={other}", {"penalty.method": other}, {}, "torch")


def _unroll_variant(row_id, recipe, arg):
  """The critic loop the default does not use: rolled (1) or fully unrolled (n_critic)."""
  config = make_config(recipe, arg)
  n_critic = config.train.n_critic
  if factory.resolve_unroll(config) < n_critic:
    return (row_id, f"critic_unroll={n_critic} (unrolled loop)",
            {"train.critic_unroll": n_critic}, {}, "torch")
  return (row_id, "critic_unroll=1 (rolled loop)", {"train.critic_unroll": 1}, {}, "torch")


def run_all(bench, only):
  """All cases; `only` is a set of case numbers ("1".."5"), empty for all."""

  def wanted(case_no):
    return not only or case_no in only

  if wanted("1"):
    variants = [("1", "default", {}, {}, ("torch", "torch_ftz")),
                _method_variant("1.method", "wgan_gp", TOY),
                _unroll_variant("1.unroll", "wgan_gp", TOY)]
    variants += [(f"1.x{i + 1}", label, {}, kw, "torch")
                 for i, (label, kw) in enumerate(OVERHEADS)]
    bench.group("1 WGAN-GP toy MLP", "wgan_gp", TOY, variants,
                torch_twins={"torch": {}, "torch_ftz": FTZ})
  if wanted("2"):
    upsample = make_config("wgan_gp", DCGAN).model.upsample
    other = "conv_transpose" if upsample == "depth_to_space" else "depth_to_space"
    bench.group("2 WGAN-GP DCGAN32", "wgan_gp", DCGAN, [
        ("2", "default", {}, {}, ("torch", "torch_ftz")),
        _method_variant("2.method", "wgan_gp", DCGAN),
        ("2.upsample", f"upsample={other}", {"model.upsample": other}, {}, "torch_up"),
    ], torch_twins={"torch": {}, "torch_ftz": FTZ, "torch_up": {"model.upsample": other}})
    # The rolled DCGAN loop is far slower on XLA:CPU (results/step_throughput.md, row
    # 2.rolled): one warm-up and one timed call; its PyTorch number is the case-2 twin
    # measured just above.
    bench.group("2 WGAN-GP DCGAN32", "wgan_gp", DCGAN,
                [_unroll_variant("2.rolled", "wgan_gp", DCGAN)], single=True,
                note="1 warm-up + 1 timed call; PyTorch: the case-2 twin above")
  if wanted("3"):
    variants = [("3", "default", {}, {}, ("torch", "torch_ftz")),
                _method_variant("3.method", "wgan_gp", DIGITS),
                _unroll_variant("3.unroll", "wgan_gp", DIGITS)]
    variants += [(f"3.x{i + 1}", label, {}, kw, "torch")
                 for i, (label, kw) in enumerate(OVERHEADS[:3])]
    bench.group("3 default digits recipe", "wgan_gp", DIGITS, variants,
                torch_twins={"torch": {}, "torch_ftz": FTZ})
  if wanted("4"):
    bench.group("4 DRAGAN DCGAN32", "dragan", DCGAN, [
        ("4", "default", {}, {}, "torch"),
        _method_variant("4.method", "dragan", DCGAN),
    ], torch_twins={"torch": {}})
    # Where a DRAGAN step's time goes: its generator update alone (G forward, critic
    # forward and input gradient, G backward, Adam), beside PyTorch's.
    bench.group("4 DRAGAN DCGAN32", "dragan", DCGAN, [
        ("4.generator", "generator update alone", {}, {"mode": "generator"}, "torch_g"),
    ], torch_mode="generator", torch_twins={"torch_g": {}})
  if wanted("5"):
    for base, arg in (("1", TOY), ("2", DCGAN), ("6", RESNET)):
      bench.group(f"5 critic update alone, case-{base} critic", "wgan_gp", arg, [
          (f"5.{base}.none", "no penalty", {"penalty.name": "none"}, {"mode": "critic"},
           "torch_none"),
          (f"5.{base}.dbl", "penalty.method=double_backward",
           {"penalty.method": "double_backward"}, {"mode": "critic"}, "torch_gp"),
          (f"5.{base}.jvp", "penalty.method=jvp", {"penalty.method": "jvp"},
           {"mode": "critic"}, "torch_gp"),
      ], torch_mode="critic", torch_twins={"torch_none": {"penalty.name": "none"},
                                           "torch_gp": {}})
  if wanted("6"):
    # The flush-to-zero twin matters here: in smoke runs at reduced width the
    # default twin spent most of its time on denormal floats.
    bench.group("6 WGAN-GP ResNet32", "wgan_gp", RESNET, [
        ("6", "default", {}, {}, ("torch", "torch_ftz")),
        _method_variant("6.method", "wgan_gp", RESNET),
        # PyTorch twin in float32: bf16 on XLA:CPU against PyTorch's usual CPU step.
        ("6.bf16", "model.dtype=bfloat16", {"model.dtype": "bfloat16"}, {},
         ("torch", "torch_ftz")),
    ], torch_twins={"torch": {}, "torch_ftz": FTZ})
  if wanted("7"):
    bench.group("7 SNGAN ResNet32", "sngan", SNGAN, [
        ("7", "default", {}, {}, ("torch", "torch_ftz")),
    ], torch_twins={"torch": {}, "torch_ftz": FTZ})


def check_targets(rows, peak):
  """The targets the rows are read against: value, threshold, met, detail."""
  by_id = {r["row"]: r for r in rows}
  checks = []  # (name, value, threshold, met, detail)
  for c, target in (("1", 2.0), ("2", 1.1), ("4", 1.1), ("6", 1.1), ("7", 1.1)):
    if c in by_id:
      r = by_id[c]
      ratio, ftz = r["jax_over_torch"], r.get("jax_over_torch_ftz")
      # The most jaxgan could reach: every FLOP XLA counts at the matmul peak of this run.
      ceiling = peak / r["gflop_per_call"] / r["torch_generator_it_per_s"]
      checks.append((f"case {c} >= {target}x PyTorch", ratio, target, ratio >= target,
                     f"row {c} jax_over_torch" + (f"; vs flush-to-zero PyTorch: {ftz:.3g}x"
                                                  if ftz else "")
                     + f"; at 100% of the matmul peak: {ceiling:.3g}x"))
  if "1" in by_id:
    share = by_id["1"]["achieved_gflop_s"] / peak
    checks.append(("case 1 achieved GFLOP/s >= 50% of matmul peak", share, 0.5, share >= 0.5,
                   f"peak {peak:.1f} GFLOP/s"))
  if "5.2.none" in by_id:
    method = make_config("wgan_gp", DCGAN).penalty.method
    pen, none = by_id["5.2.jvp" if method == "jvp" else "5.2.dbl"], by_id["5.2.none"]
    ratio = none["critic_steps_per_s"] / pen["critic_steps_per_s"]
    checks.append(("conv critic update with penalty <= 1.6x without", ratio, 1.6, ratio <= 1.6,
                   f"{pen['row']} ({method}) vs 5.2.none; XLA FLOPs ratio "
                   f"{pen['xla_gflop_per_call'] / none['xla_gflop_per_call']:.3g}"))
  if "3" in by_id:
    seconds = by_id["3"]["compile_s"]
    checks.append(("default recipe compile < 15 s", seconds, 15.0, seconds < 15.0,
                   "row 3 compile_s"))
  return [{"target": n, "value": _round(v), "threshold": t, "met": bool(ok), "detail": d}
          for n, v, t, ok, d in checks]


COLUMNS = [
    ("row", "row"), ("case", "case"), ("variant", "variant"),
    ("generator_it_per_s", "jax it/s"), ("torch_generator_it_per_s", "torch it/s"),
    ("jax_over_torch", "jax/torch"), ("critic_steps_per_s", "critic/s"),
    ("torch_critic_steps_per_s", "torch critic/s"), ("examples_per_s", "examples/s"),
    ("compile_s", "compile s"), ("gflop_per_call", "GFLOP/call"),
    ("achieved_gflop_s", "GFLOP/s"), ("fraction_of_peak", "of peak"),
]


def _cell(value):
  if value is None:
    return ""
  if isinstance(value, float):
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
  return str(value)


def table(rows, peak):
  lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |",
           "|" + "---|" * len(COLUMNS)]
  for r in rows:
    r = dict(r, fraction_of_peak=r["achieved_gflop_s"] / peak)
    lines.append("| " + " | ".join(_cell(r.get(k)) for k, _ in COLUMNS) + " |")
  return "\n".join(lines)


README_ROWS = [
    ("1", "1 WGAN-GP toy MLP 2-512x3, batch 256, n_critic 5"),
    ("2", "2 WGAN-GP DCGAN 32x32x3, width 64, batch 64, n_critic 5"),
    ("3", "3 default digits recipe (MLP 64-256x3, batch 64, n_critic 5)"),
    ("4", "4 DRAGAN on the case-2 DCGAN (non-saturating, n_critic 1)"),
    ("6", "6 WGAN-GP ResNet 32x32x3, width 128, batch 64 (G 128), n_critic 5"),
    ("6.bf16", "6.bf16 the same in bfloat16 (PyTorch float32)"),
    ("7", "7 SNGAN ResNet, G 256 / D 128 with SN, batch 64 (G 128), n_critic 5"),
]


def readme_table(rows, peak):
  """The README's short table: the four headline rows."""
  by_id = {r["row"]: r for r in rows}
  lines = ["| case | jaxgan it/s | PyTorch it/s | jax/torch | compile | of matmul peak |",
           "|---|---|---|---|---|---|"]
  for row_id, label in README_ROWS:
    if row_id in by_id:
      r = by_id[row_id]
      lines.append(f"| {label} | {_cell(r['generator_it_per_s'])} | "
                   f"{_cell(r['torch_generator_it_per_s'])} | "
                   f"{r['jax_over_torch']:.2f}x | {r['compile_s']:.1f} s | "
                   f"{100 * r['achieved_gflop_s'] / peak:.0f}% |")
  return "\n".join(lines)


def _train_cases(only):
  cases = [c for c in (only or TRAIN_CASES) if c in TRAIN_CASES]
  if not cases:
    raise SystemExit(f"--members/--devices time the training cases {', '.join(TRAIN_CASES)}")
  return cases


def members_rows(only, ks, repeats, peak, methods=POPULATION_METHODS):
  """Per (case, K): a population (each of `methods`) against its K single runs in turn."""
  rows = []
  for c in _train_cases(only):
    name, recipe, arg = TRAIN_CASES[c]
    for k in ks:
      load_before = os.getloadavg()
      over = {"population.size": k}
      group = {m: JaxMember(make_config(recipe, arg, dict(over, **{"population.method": m})))
               for m in methods}
      group["single"] = Sequential(make_config(recipe, arg, over))
      cpu = {}
      times, calls = time_group(group, repeats, cpu=cpu)
      rate = {m: k / statistics.median(t) for m, t in times.items()}
      cpu_rate = {m: k / statistics.median(t) for m, t in cpu.items()}
      flops = group["single"].flops  # map's while loop would count one member's body
      row = {"case": name, "row": c, "recipe": f"{recipe}.py" + (f":{arg}" if arg else ""),
             "members": k, "flops_per_member_step": flops,
             "single_compile_s": group["single"].compile_s}
      for m in group:
        row[f"{m}_member_steps_s"] = rate[m]
        row[f"{m}_member_steps_per_cpu_s"] = cpu_rate[m]
        row[f"{m}_fraction_of_peak"] = rate[m] * flops / 1e9 / peak
      for m in methods:
        row[f"{m}_population_over_sequential"] = rate[m] / rate["single"]
        row[f"{m}_cpu_population_over_sequential"] = cpu_rate[m] / cpu_rate["single"]
        row[f"{m}_compile_s"] = group[m].compile_s
      # What a population run gets by default (population.method "auto").
      row["default_method"] = population.resolve_method(make_config(recipe, arg, over))
      row["population_over_sequential"] = row.get(
          f"{row['default_method']}_population_over_sequential")  # None: not timed
      row.update(repeats=repeats, calls_per_repeat=calls,
                 load_before=[round(x, 2) for x in load_before],
                 load_after=[round(x, 2) for x in os.getloadavg()])
      emit(rows, row)
  return rows


def members_table(rows, peak) -> str:
  methods = [m for m in POPULATION_METHODS if rows and f"{m}_member_steps_s" in rows[0]]
  lines = [f"Matmul peak measured in this run: {peak:.0f} GFLOP/s. Member-steps/s; "
           "over sequential = over K single runs one after another (wall time; "
           "per CPU-second of this process in brackets).", "",
           "| case | K | K single runs | " + " | ".join(
               f"{m} | {m} over sequential" for m in methods)
           + " | default | compile: K single runs / " + " / ".join(methods)
           + " | of matmul peak: single / " + " / ".join(methods)
           + " | load before -> after |",
           "|---|---|---|" + "---|---|" * len(methods) + "---|---|---|---|"]
  for r in rows:
    cells = []
    for m in methods:
      ratio = f"{m}_population_over_sequential"
      cells.append(f"{r[f'{m}_member_steps_s']:.2f} | {r[ratio]:.2f}x "
                   f"({r[f'{m}_cpu_population_over_sequential']:.2f}x)")
    lines.append(
        f"| {r['case']} | {r['members']} | {r['single_member_steps_s']:.2f} | "
        + " | ".join(cells) + f" | {r['default_method']} | {r['single_compile_s']:.1f} / "
        + " / ".join(f"{r[f'{m}_compile_s']:.1f}" for m in methods) + " s | "
        + f"{r['single_fraction_of_peak']:.0%} / "
        + " / ".join(f"{r[f'{m}_fraction_of_peak']:.0%}" for m in methods)
        + f" | {r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f} |")
  return "\n".join(lines)


def devices_rows(only, n, repeats):
  """Per case: the same global batch on a mesh of 1 device and of all n."""
  rows = []
  for c in _train_cases(only):
    name, recipe, arg = TRAIN_CASES[c]
    config = make_config(recipe, arg)
    group = {d: JaxMember(config, devices=d) for d in (1, n)}
    times, calls = time_group(group, repeats)
    sec = {d: statistics.median(t) for d, t in times.items()}
    examples = config.train.n_critic * config.train.batch_size
    row = {"case": name, "row": c, "devices": n, "generator_it_per_s": 1 / sec[n],
           "one_device_it_per_s": 1 / sec[1], "over_one_device": sec[1] / sec[n],
           "examples_per_s": examples / sec[n], "compile_s": group[n].compile_s,
           "one_device_compile_s": group[1].compile_s, "repeats": repeats,
           "calls_per_repeat": {str(d): k for d, k in calls.items()}}
    emit(rows, row)
  return rows


def devices_table(rows) -> str:
  lines = ["| case | devices | it/s | 1 device it/s | over 1 device | examples/s | "
           "compile: N / 1 device |", "|---|---|---|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['case']} | {r['devices']} | {_cell(r['generator_it_per_s'])} | "
                 f"{_cell(r['one_device_it_per_s'])} | {r['over_one_device']:.2f}x | "
                 f"{_cell(r['examples_per_s'])} | {r['compile_s']:.1f} / "
                 f"{r['one_device_compile_s']:.1f} s |")
  return "\n".join(lines)


def run_info(args, t_start, load_start, torch_info=None) -> dict:
  """The run's metadata: machine, devices, versions, load, commit."""
  info = torch_info or {}
  return {
      "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {run_meta.cpu_name()}",
      "cpus_used": len(os.sched_getaffinity(0)),
      "python": platform.python_version(), "jax": jax.__version__,
      "jaxlib": jaxlib.__version__, "backend": jax.default_backend(),
      "device_kind": jax.devices()[0].device_kind, "devices": jax.device_count(),
      # jaxgan's CPU compiler flags (jaxgan/xla_cpu.py) as this run had them.
      "xla_cpu_flags": xla_cpu.in_effect(),
      "torch": info.get("torch", run_meta.version("torch")),
      "torch_device": info.get("device"), "repeats": args.repeats,
      "resnet_width": args.resnet_width or "recipes' (128; SNGAN generator 256)",
      "load_average_start": [round(x, 2) for x in load_start],
      "load_average_end": [round(x, 2) for x in os.getloadavg()],
      "wall_s": round(time.time() - t_start, 1), "commit": run_meta.git_commit(),
      "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
  }


def write(out, stem, title, md, payload):
  run_meta.write(out, stem, payload, f"# {title} (benchmarks/step_throughput.py)\n\n{md}\n\n"
                 "## Run\n\n```json\n" + json.dumps(payload["meta"], indent=1) + "\n```\n")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=7, help="timed repeats per row")
  parser.add_argument("--only", default="", help="comma-separated case numbers, e.g. 1,5")
  parser.add_argument("--out", default=os.path.join(HERE, "results"),
                      help="directory for the .json and .md output")
  parser.add_argument("--resnet-width", type=int, default=0,
                      help="critic width of the ResNets in cases 5-7 (SNGAN generator: "
                           "twice it) for smoke runs; 0 = the recipes' (128, SNGAN G 256)")
  parser.add_argument("--threads", type=int, default=0,
                      help="pin this process tree to the first N CPUs and give PyTorch N "
                           "threads (XLA:CPU sizes its pool from the CPUs it may use); "
                           "0 = every CPU, PyTorch 2 threads")
  parser.add_argument("--members", default="",
                      help="population sizes K, e.g. 1,2,4,8: populations against their "
                           "K single runs in turn (-> population.{json,md})")
  parser.add_argument("--methods", default=",".join(POPULATION_METHODS),
                      help="--members: the population methods timed (map runs conv "
                           "models tens of times slower than the others on CPU)")
  parser.add_argument("--devices", type=int, default=0,
                      help="N forced CPU devices: each case on 1 and on N devices "
                           "(-> multi_device.{json,md})")
  args = parser.parse_args()
  RESNET_WIDTH[0] = args.resnet_width
  only = [c for c in args.only.split(",") if c]
  if args.threads:
    # Before the first JAX computation, which creates XLA:CPU's thread pool; the
    # PyTorch workers inherit the affinity.
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])
  jax.config.update("jax_enable_compilation_cache", False)  # compile_s is a real compile
  t_start, load_start = time.time(), os.getloadavg()
  if args.devices:
    if jax.device_count() != args.devices:
      raise SystemExit(f"--devices {args.devices}: JAX sees {jax.device_count()} devices")
    rows = devices_rows(only, args.devices, args.repeats)
    md = devices_table(rows)
    print(md)
    write(args.out, "multi_device", f"Step on 1 and {args.devices} devices", md,
          {"meta": run_info(args, t_start, load_start), "rows": rows})
    return
  if args.members:
    peak = run_meta.matmul_peak()
    rows = members_rows(only, [int(k) for k in args.members.split(",")], args.repeats, peak,
                        methods=tuple(args.methods.split(",")))
    peak = max(peak, run_meta.matmul_peak())
    md = members_table(rows, peak)
    print(md)
    write(args.out, "population", "Population throughput", md,
          {"meta": run_info(args, t_start, load_start), "matmul_peak_gflop_s": peak,
           "rows": rows})
    return
  workers = {"ftz": TorchWorker(flush_denormal=True, threads=args.threads),
             "default": TorchWorker(flush_denormal=False, threads=args.threads)}
  worker = workers["default"]
  assert workers["ftz"].info["flush_denormal"] and not worker.info["flush_denormal"]
  bench = Bench(args.repeats, workers)
  try:
    peak_before = run_meta.matmul_peak()
    print(json.dumps({"matmul_peak_gflop_s_before": _round(peak_before)}), flush=True)
    run_all(bench, set(only))
    peak_after = run_meta.matmul_peak()
    torch_mm = worker.call(cmd="matmul", n=2048, repeats=7)["gflops"]
  finally:
    for w in workers.values():
      w.close()
  peak = max(peak_before, peak_after)
  for r in bench.rows:
    r["fraction_of_matmul_peak"] = _round(r["achieved_gflop_s"] / peak)
  meta = run_info(args, t_start, load_start, worker.info)
  meta.update({
      "torch_threads": worker.info["threads"],
      "torch_interop_threads": worker.info["interop_threads"],
      "torch_flush_denormal": "main twins: no (PyTorch default); torch_ftz twins: yes",
      "matmul_peak_gflop_s": _round(peak),
      "matmul_gflop_s_before_after": [_round(peak_before), _round(peak_after)],
      "torch_mm_2048_gflop_s": _round(torch_mm),
  })
  targets = check_targets(bench.rows, peak)
  for t in targets:
    print(json.dumps(t), flush=True)
  print(json.dumps(meta), flush=True)
  md = table(bench.rows, peak)
  print(md)
  md += "\n\n## Headline rows (README)\n\n" + readme_table(bench.rows, peak)
  md += "\n\n## Targets\n\n" + "".join(
      f"- {t['target']}: {t['value']} -> {'met' if t['met'] else 'NOT met'} ({t['detail']})\n"
      for t in targets)
  write(args.out, "step_throughput", "Step throughput", md,
        {"meta": meta, "targets": targets, "rows": bench.rows})


if __name__ == "__main__":
  main()
