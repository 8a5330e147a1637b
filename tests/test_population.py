"""Populations: members cross seeds with sweep values; each member initialises,
draws and reads data as its single run; the step keeps members to their single
runs (bitwise with method map where XLA compiles the same operations, within a
bound with vmap); a diverged member is frozen while the others train on; summaries
use Student's t; records, grids and evaluations per member; export, checkpoints and
resume; sweeps over static keys are refused by name."""

import dataclasses
import functools
import json
import math
import os
import re

import jax
import numpy as np
import pytest

from configs import wgan_gp
from jaxgan import checkpoint as checkpoint_lib
from jaxgan import cli
from jaxgan import config_io
from jaxgan import data as data_lib
from jaxgan import errors
from jaxgan import factory
from jaxgan import loop
from jaxgan import restore
from jaxgan import mesh
from jaxgan import population
from jaxgan import rng
from jaxgan import runs
from jaxgan import train
from jaxgan import validation

# Student's t quantile t(0.975, 3), from a printed table (e.g. NIST/SEMATECH e-Handbook
# 1.3.6.7.2), not from scipy, which population.summarize uses.
T_975_3 = 3.182446


def _toy(size=2, steps=6, **sweep):
  config = wgan_gp.get_config("dataset=8gaussians")
  config.model.hidden = (32, 32)
  config.train.batch_size = 32
  config.train.num_steps = steps
  config.optimizer.decay_steps = 12  # fixed, so runs of other lengths share one schedule
  config.population.size = size
  for field, values in sweep.items():
    config.population.sweep[field] = values
  config.log.every = 1
  config.log.eval_every = 0
  config.log.sample_every = 1000
  config.eval.num_samples = 200
  config.eval.num_projections = 50
  return config


# --- Members and their configs -------------------------------------------------------


def test_members_cross_sweep_values_with_seeds_the_seed_varying_fastest():
  config = _toy(size=2, penalty_weight=(1, 10.0))
  config.seed = 5
  got = [(m.index, m.seed, dict(m.values)) for m in runs.Runs(config).members]
  assert got == [(0, 5, {"penalty_weight": 1.0}), (1, 6, {"penalty_weight": 1.0}),
                 (2, 5, {"penalty_weight": 10.0}), (3, 6, {"penalty_weight": 10.0})]
  assert [g.members for g in population.groups(config)] == [(0, 1), (2, 3)]
  single = population.member_config(config, 3)
  assert (single.seed, single.penalty.weight, single.population.size) == (6, 10.0, 1)
  assert not population.is_population(single) and not population.swept(single)
  validation.validate(single)  # a plain single-run config
  assert config.seed == 5 and config.penalty.weight == 0.1  # the population's is untouched
  with pytest.raises(errors.ConfigError, match="member 4 does not exist: the population has 4"):
    runs.Runs(config).member(4)


def test_each_sweep_field_sets_the_config_key_the_step_reads_it_from():
  config = _toy(size=1)
  for i, field in enumerate(population.SWEEPABLE):
    config.population.sweep[field] = (0.25 + i / 100, 0.5 + i / 100)
  # 4,096 members: look at six of them without building every member's config.
  combos = population.combinations(config)
  for index in (0, 1, 2, len(combos) - 3, len(combos) - 2, len(combos) - 1):
    _, values = combos[index]
    hparams = factory.hparams(population.member_config(config, index))
    assert {f: getattr(hparams, f) for f, _ in values} == dict(values)
  # Every step hyperparameter but the AC-GAN weights (a population is unconditional).
  assert tuple(population.SWEEPABLE) == tuple(
      f.name for f in dataclasses.fields(train.HParams) if not f.name.startswith("acgan"))
  assert set(config.population.sweep) == set(population.SWEEPABLE)


def test_size_one_without_a_sweep_is_a_single_run():
  config = wgan_gp.get_config()
  assert population.num_members(config) == 1 and not population.is_population(config)


# --- Validation and the command line ------------------------------------------------


def test_command_line_sweep_parses_as_a_tuple_of_values():
  config, _ = config_io.load("configs/wgan_gp.py", [
      ("population.sweep.penalty_weight", "0.1,1,10"), ("population.size", "3")])
  assert config.population.sweep.penalty_weight == (0.1, 1, 10)
  assert population.num_members(config) == 9
  validation.validate(config)


@pytest.mark.parametrize("key,message", [
    ("n_critic", r"--config.population.sweep.n_critic=1,5: train.n_critic is static"),
    ("arch", r"model.arch is static"),
    ("batch_size", r"train.batch_size is static"),
    ("loss.name", r"loss.name is static"),
    ("penalty.weight", r"penalty.weight is swept as population.sweep.penalty_weight"),
    ("seed", r"seeds are seed, seed\+1, ..., seed\+size-1"),
])
def test_a_sweep_over_a_static_key_is_one_error_naming_it(key, message):
  with pytest.raises(errors.ConfigError, match=message):
    config_io.load("configs/wgan_gp.py", [(f"population.sweep.{key}", "1,5")])


@pytest.mark.parametrize("field,values,message", [
    ("critic_lr", (1e-4, -1.0), r"population.sweep.critic_lr must be distinct numbers, each "
                                r"> 0 \(values of optimizer.critic.learning_rate\)"),
    ("critic_b1", (0.5, 0.5), r"critic_b1 must be distinct numbers"),
    ("critic_decay", (0.9, 0.99), r"critic_decay must be \(\) here: only RMSProp has a decay"),
    ("noise_variance", (1.0, 10.0), r"only DRAGAN's penalty.perturbation='gaussian' uses"),
    ("ema_decay", (0.9, 0.99), r"ema_decay must be \(\) here: ema.enabled is False"),
    ("penalty_weight", (5.0,), r"penalty_weight=\(5,\) with population.size=1 is one run; "
                               r"set --config.penalty.weight=5 instead"),
])
def test_sweep_values_follow_their_keys_rules_and_must_matter(field, values, message):
  config = wgan_gp.get_config()
  config.population.sweep[field] = values
  with pytest.raises(errors.ConfigError, match=message):
    validation.validate(config)


def test_a_conditional_population_is_refused_before_anything_starts():
  config = wgan_gp.get_config("dataset=digits,conditional=acgan")
  config.population.size = 2
  with pytest.raises(errors.ConfigError,
                     match=r"model.conditional='acgan' with a population \(2 members\)"):
    validation.validate(config)


# --- Statistics ---------------------------------------------------------------------


def test_summary_is_mean_sample_std_and_students_t_interval():
  got = population.summarize([1.0, 2.0, 3.0, 4.0])
  std = math.sqrt(5 / 3)  # sum of squared deviations 5, n - 1 = 3
  assert got["n"] == 4 and got["mean"] == 2.5 and got["std"] == pytest.approx(std)
  assert got["ci95"] == pytest.approx(T_975_3 * std / 2, rel=1e-6)
  assert population.summarize([7.0]) == {"n": 1, "mean": 7.0, "std": None, "ci95": None}


def test_best_member_follows_each_metrics_direction_and_skips_missing_values():
  values = {0: 30.0, 1: None, 2: 12.0, 3: float("nan")}
  assert population.best_member(values, "fd_digits_classifier") == (2, 12.0)
  assert population.best_member({0: 40.0, 1: 97.0}, "hq_percent") == (1, 97.0)
  assert population.best_member({0: None}, "sliced_wasserstein") is None


# --- Each member is its single run -----------------------------------------------------


def test_each_member_initialises_exactly_as_its_single_run():
  config = _toy(size=3)
  shape = validation.validate(config)
  spec = factory.make_step_spec(config, shape)
  state = population.init_state(config, spec, shape)
  abstract = runs.setup(config).abstract_state
  for i in range(3):
    single = train.init_state(spec, rng.run_key(i), shape)
    member = population.member_state(state, i)
    for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(member)):
      np.testing.assert_array_equal(np.asarray(a), b)
  assert jax.tree.map(lambda x: (x.shape, x.dtype), abstract) == jax.tree.map(
      lambda x: (x.shape, x.dtype), state)


@pytest.mark.parametrize("variant", [
    "dataset=8gaussians", pytest.param("dataset=digits", marks=pytest.mark.slow)])
def test_each_members_data_is_its_single_runs_from_any_position(variant, tmp_path):
  config = wgan_gp.get_config(variant)
  config.dataset.data_dir = str(tmp_path / "tfds")
  seeds = [3, 4, 3]  # members sharing a seed share an iterator
  kwargs = dict(global_batch_size=8, n_critic=2, position=5)
  items = population.PopulationIterator(
      data_lib.make_iterators(config.dataset, seeds=sorted(set(seeds)), **kwargs), seeds)
  singles = {s: data_lib.make_iterator(config.dataset, seed=s, **kwargs) for s in (3, 4)}
  for _ in range(3):
    stacked = next(items)
    expected = {s: next(it) for s, it in singles.items()}
    for k, seed in enumerate(seeds):
      np.testing.assert_array_equal(stacked[k], expected[seed])
  assert items.position == 8
  assert not np.array_equal(expected[3], expected[4])


def _train(config, steps):
  """`steps` steps of the runs of `config` on one device: (host state, last metrics)."""
  run = runs.setup(config, devices=jax.devices()[:1])
  step, state = run.compile(run.init_state())
  items = run.open_data()
  for _ in range(steps):
    state, metrics = step(state, run.global_batch(next(items)))
  return mesh.to_host(state), jax.device_get(metrics)



def _rel_l2(a, b):
  num = sum(float(np.sum((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2))
            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  return math.sqrt(num / sum(float(np.sum(np.asarray(x, np.float64) ** 2))
                             for x in jax.tree.leaves(a)))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["map", "unroll"])
def test_the_toy_member_trains_bitwise_as_its_single_run(method):
  # Bitwise where XLA compiles the member's step inside lax.map to the single run's
  # operations and fusions, as here; elsewhere (e.g. the unrolled digits critic
  # loop) float rounding can differ in the last bit (benchmarks/results/
  # population_drift.md measures every recipe).
  config = wgan_gp.get_config("dataset=8gaussians")
  config.model.hidden = (32, 32)
  config.train.batch_size = 16
  config.population.size = 2
  config.population.method = method
  config.seed = 7
  pop_state, pop_metrics = _train(config, 8)
  for i in range(2):
    single, metrics = _train(population.member_config(config, i), 8)
    for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(
        population.member_state(pop_state, i))):
      np.testing.assert_array_equal(np.asarray(a), b)
    assert float(pop_metrics["generator/loss"][i]) == float(metrics["generator/loss"])


def test_with_vmap_a_member_stays_within_float_rounding_of_its_single_run():
  # vmap batches the members' matrix products, which XLA may sum in another order:
  # after 8 steps the member is 1e-7-close to its single run, while two seeds are
  # O(1) apart (measured: benchmarks/results/population_drift_*.md).
  config = _toy(size=2)
  config.population.method = "vmap"
  pop_state, _ = _train(config, 8)
  singles = [_train(population.member_config(config, i), 8)[0] for i in range(2)]
  for i in range(2):
    member = population.member_state(pop_state, i)
    assert _rel_l2(singles[i].generator_params, member.generator_params) < 1e-4
    assert _rel_l2(singles[i].critic_params, member.critic_params) < 1e-4
  assert _rel_l2(singles[0].critic_params, singles[1].critic_params) > 0.1


def test_auto_unrolls_members_on_cpu_up_to_a_limit_then_vmaps():
  config = _toy(size=population.UNROLL_MAX)
  assert population.resolve_method(config, "cpu") == "unroll"
  assert population.resolve_method(config, "gpu") == "vmap"
  config.population.size = population.UNROLL_MAX + 1
  assert population.resolve_method(config, "cpu") == "vmap"
  config.population.method = "map"  # a method named in the config is kept
  assert population.resolve_method(config, "cpu") == "map"


def test_a_swept_member_trains_as_the_single_run_with_that_value():
  config = _toy(size=1, critic_lr=(1e-4, 3e-4))
  config.population.method = "map"
  pop_state, _ = _train(config, 4)
  single, _ = _train(population.member_config(config, 1), 4)
  assert population.member_config(config, 1).optimizer.critic.learning_rate == 3e-4
  # The swept value reaches the step as data, not as the single run's constant:
  # float rounding may differ where XLA folds a constant.
  assert _rel_l2(single.critic_params, population.member_state(pop_state, 1).critic_params) < 1e-5
  lr0 = population.member_state(pop_state, 0)
  assert _rel_l2(single.critic_params, lr0.critic_params) > 1e-3  # the value mattered


# --- Divergence -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["map", "vmap", "unroll"])
def test_a_diverged_member_is_frozen_at_its_last_finite_state_and_the_others_go_on(method):
  config = _toy(size=3)
  config.population.method = method
  shape = validation.validate(config)
  spec = factory.make_step_spec(config, shape)
  step = jax.jit(functools.partial(population.step_fn(config), spec=spec))
  state = population.init_state(config, spec, shape)
  reference = population.init_state(config, spec, shape)
  batches = np.random.default_rng(0).normal(size=(5, 3, 5, 32, 2)).astype(np.float32)
  batches[2, 1, 3, 0, 0] = np.nan  # member 1's data at step 3 holds a NaN
  history = []
  for t in range(5):
    state, metrics = step(state, batches[t])
    reference, _ = step(reference, np.nan_to_num(batches[t]))
    history.append(jax.device_get(state))
  assert list(np.asarray(state.diverged_at)) == [0, 3, 0]
  assert list(np.asarray(metrics["population/diverged_at"])) == [0, 3, 0]
  frozen = population.member_state(jax.device_get(state), 1)
  for a, b in zip(jax.tree.leaves(frozen), jax.tree.leaves(
      population.member_state(history[1], 1))):  # its state after step 2
    np.testing.assert_array_equal(a, b)
  assert int(frozen.step) == 2
  for i in (0, 2):  # the others trained all five steps, untouched by member 1
    for a, b in zip(jax.tree.leaves(population.member_state(jax.device_get(state), i)),
                    jax.tree.leaves(population.member_state(jax.device_get(reference), i))):
      np.testing.assert_array_equal(a, b)


def test_the_loop_reports_a_diverged_member_once_and_marks_its_records(tmp_path, caplog):
  config = _toy(size=1, steps=8, critic_lr=(1e-4, 1e30))
  workdir = str(tmp_path / "run")
  with caplog.at_level("WARNING", logger="jaxgan"):
    state = loop.train_and_evaluate(config, workdir)
  warnings = [r.getMessage() for r in caplog.records if "diverged" in r.getMessage()]
  assert len(warnings) == 1
  assert "member 1 (seed 0, critic_lr=1e+30) diverged at step 1" in warnings[0]
  assert list(state.diverged_at) == [0, 1] and list(state.members.step) == [8, 0]
  records = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  member1 = [r for r in records if r.get("member") == 1]
  assert len(member1) == 8 and all(r == {"step": r["step"], "member": 1, "diverged_at": 1}
                                   for r in member1)
  summaries = [r for r in records if r.get("summary") == "population"]
  assert {r["members"] for r in summaries if r["sweep"] == {"critic_lr": 1e30}} == {0}


# --- Outputs ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy_population(tmp_path_factory):
  """A 2-seed x 2-lambda toy population, 6 steps, evaluated and sampled at the end."""
  workdir = str(tmp_path_factory.mktemp("pop") / "run")
  config = _toy(size=2, steps=6, penalty_weight=(0.1, 1.0))
  config.log.every = 3
  config.log.eval_every = 6
  config.log.sample_every = 6
  config.log.checkpoint_every = 3
  loop.train_and_evaluate(config, workdir)
  return config, workdir


def test_records_per_member_and_summaries_per_sweep_combination(toy_population):
  config, workdir = toy_population
  records = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  training = [r for r in records if "member" in r and not any(k.startswith("eval/") for k in r)]
  assert sorted((r["step"], r["member"]) for r in training) == [
      (s, m) for s in (3, 6) for m in range(4)]
  summary = [r for r in records if r.get("summary") == "population"
             and "critic/loss/mean" in r and r["step"] == 6]
  assert [r["sweep"] for r in summary] == [{"penalty_weight": 0.1}, {"penalty_weight": 1.0}]
  for group, record in zip(population.groups(config), summary):
    losses = [r["critic/loss"] for r in training if r["step"] == 6 and r["member"] in group.members]
    assert record["members"] == 2
    assert record["critic/loss/mean"] == pytest.approx(np.mean(losses))
    std = np.std(losses, ddof=1)
    assert record["critic/loss/ci95"] == pytest.approx(12.706205 * std / math.sqrt(2), rel=1e-6)


def test_evaluations_per_member_and_a_population_summary_naming_the_best(toy_population):
  config, workdir = toy_population
  with open(os.path.join(workdir, "eval", "step_000006.json")) as f:
    result = json.load(f)
  per_member = {}
  for m in range(4):
    with open(os.path.join(workdir, "eval", f"member_{m:02d}", "step_000006.json")) as f:
      member = json.load(f)
    assert member["member"] == runs.Runs(config).members[m].as_json()
    per_member[m] = member["generators"]["raw"]["sliced_wasserstein"]
  best = min(per_member, key=per_member.get)
  assert result["best_metric"] == "sliced_wasserstein"
  assert result["best"]["raw"]["member"] == best
  assert result["best"]["raw"]["value"] == per_member[best]
  group = result["groups"][1]
  assert group["values"] == {"penalty_weight": 1.0} and group["members"] == [2, 3]
  assert group["summary"]["raw"]["sliced_wasserstein"]["mean"] == pytest.approx(
      (per_member[2] + per_member[3]) / 2)


def test_grids_per_member_and_one_with_a_panel_per_member(toy_population):
  _, workdir = toy_population
  samples = os.path.join(workdir, "samples")
  assert os.path.exists(os.path.join(samples, "step_000006_members.png"))
  for m in range(4):
    assert os.path.exists(os.path.join(samples, f"member_{m:02d}", "step_000006.png"))
  # Member 0's grid is its single run's: the fixed latents of its own seed.
  points = np.load(os.path.join(samples, "member_00", "step_000006.npy"))
  assert points.shape == (100, 2)


def test_tensorboard_tags_carry_the_member_and_the_population(toy_population):
  _, workdir = toy_population
  from tensorflow.compat.v1 import train as tf_train  # pylint: disable=g-import-not-at-top
  tags = set()
  for name in os.listdir(workdir):
    if name.startswith("events."):
      for event in tf_train.summary_iterator(os.path.join(workdir, name)):
        tags.update(v.tag for v in event.summary.value)
  assert {"member_0/critic/loss", "member_3/eval/raw/sliced_wasserstein",
          "population/penalty_weight_0.1/critic/loss/mean",
          "population/penalty_weight_1/eval/raw/sliced_wasserstein/ci95"} <= tags


def test_member_flag_samples_and_evaluates_one_member(toy_population, tmp_path):
  config, workdir = toy_population
  out = restore.sample_from_checkpoint(config, workdir, member=3)
  (member, written), = out["written"]
  assert member.index == 3 and out["picture"] is None and "member_03" in written["raw"]["png"]
  result = restore.evaluate_from_checkpoint(config, workdir, step=3, member=1)
  assert result["member"]["member"] == 1 and result["step"] == 3
  with pytest.raises(errors.ConfigError, match="--member=4: member 4 does not exist"):
    restore.sample_from_checkpoint(config, workdir, member=4)
  single = _toy(size=1)
  with pytest.raises(errors.ConfigError, match="is a single run, not a population"):
    runs.Runs(single).member(0)


def test_eval_mode_prints_each_combinations_interval_and_the_best_member(toy_population,
                                                                        capsys):
  config, workdir = toy_population
  cli.evaluate(config, workdir, 6)
  out = capsys.readouterr().out
  assert "penalty_weight=0.1 raw: sliced_wasserstein" in out and " (2 member(s))" in out
  assert "95% CI" not in out  # over two members Student's t says little: the two values
  assert re.search(r"sliced_wasserstein \S+ \(the two: \S+, \S+\)", out), out
  assert "best raw: member" in out and "eval/step_000006.json" in out


@pytest.mark.slow
def test_export_writes_a_standalone_run_that_resumes_as_the_members_single_run(
    toy_population, tmp_path):
  config, workdir = toy_population
  to = str(tmp_path / "member3")
  out = restore.export_member(config, workdir, 3, to)
  assert out["step"] == 6 and out["diverged_at"] == 0
  exported = config_io.load_json(os.path.join(to, "config.json"))
  assert (exported.seed, exported.penalty.weight, exported.population.size) == (1, 1.0, 1)
  restore.sample_from_checkpoint(exported, to)  # samples like any run
  with pytest.raises(errors.WorkdirError, match="already holds a run"):
    restore.export_member(config, workdir, 3, to)
  # Resumed to step 9 it is the single run of seed 1 with lambda 1 trained 9 steps
  # (bitwise: the toy step under map compiles the single run's operations).
  exported.train.num_steps = 9
  resumed = loop.train_and_evaluate(exported, to)
  straight_config = population.member_config(config, 3)
  straight_config.train.num_steps = 9
  straight = loop.train_and_evaluate(straight_config, str(tmp_path / "straight"))
  for a, b in zip(jax.tree.leaves(resumed), jax.tree.leaves(straight)):
    np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_resuming_a_population_continues_bitwise(toy_population, tmp_path):
  config, workdir = toy_population
  resumed_dir = str(tmp_path / "resumed")
  short = _toy(size=2, steps=3, penalty_weight=(0.1, 1.0))
  loop.train_and_evaluate(short, resumed_dir)
  longer = _toy(size=2, steps=6, penalty_weight=(0.1, 1.0))
  resumed = loop.train_and_evaluate(longer, resumed_dir)
  straight = runs.setup(config).restore(os.path.join(workdir, "checkpoints"), 6)[1]
  for a, b in zip(jax.tree.leaves(resumed), jax.tree.leaves(straight)):
    np.testing.assert_array_equal(a, b)


def test_a_checkpoint_from_before_a_hyperparameter_was_added_resumes_bitwise(
    toy_population, tmp_path):
  # As a checkpoint written before HParams had the AC-GAN weights: hparams without them.
  config, workdir = toy_population
  old_dir = str(tmp_path / "old")
  _, state, position = checkpoint_lib.Checkpointer(
      os.path.join(workdir, "checkpoints"), read_only=True).restore(
          runs.setup(config).abstract_state, 3)
  state = population.with_config_hparams(state, config)  # restored as placeholders
  written = {"members": state.members, "diverged_at": state.diverged_at,
             "hparams": {f.name: getattr(state.hparams, f.name)
                         for f in dataclasses.fields(state.hparams)
                         if not f.name.startswith("acgan")}}
  ckpt = checkpoint_lib.Checkpointer(os.path.join(old_dir, "checkpoints"))
  ckpt.save(3, written, data_position=position, config_json=config_io.to_json(config))
  ckpt.close()
  resumed = loop.train_and_evaluate(config, old_dir)
  straight = runs.setup(config).restore(os.path.join(workdir, "checkpoints"), 6)[1]
  for a, b in zip(jax.tree.leaves(resumed), jax.tree.leaves(straight)):
    np.testing.assert_array_equal(a, b)


def test_a_workdir_never_changes_its_number_of_members_even_when_changes_are_allowed(
    toy_population, tmp_path):
  config, workdir = toy_population
  single = _toy(size=1, steps=8)
  with pytest.raises(errors.WorkdirError, match="holds a population of 4 members; this "
                                                "config trains a single run"):
    loop.train_and_evaluate(single, workdir, allow_config_change=True)
  three = _toy(size=3, steps=8, penalty_weight=(0.1, 1.0))
  with pytest.raises(errors.WorkdirError, match="population of 6 members"):
    loop.train_and_evaluate(three, workdir, allow_config_change=True)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["3", "6"]


def test_a_run_older_than_populations_resumes_as_a_single_run_without_warnings(tmp_path,
                                                                              caplog):
  config = _toy(size=1, steps=3)
  workdir = str(tmp_path / "old")
  loop.train_and_evaluate(config, workdir)
  path = os.path.join(workdir, "config.json")
  with open(path) as f:
    old = json.load(f)
  del old["population"]  # as written before populations existed
  with open(path, "w") as f:
    json.dump(old, f)
  config.train.num_steps = 4
  with caplog.at_level("WARNING", logger="jaxgan"):
    state = loop.train_and_evaluate(config, workdir)
  assert int(state.step) == 4 and not [r for r in caplog.records if "population" in r.getMessage()]


def test_the_first_statistics_record_has_no_rate_rather_than_a_nan():
  config = _toy(size=2)
  metrics = [{"critic/loss": 1.0}, {"critic/loss": 3.0}]
  (first, _, _), = population.member_statistics(population.groups(config), metrics, {},
                                                 math.nan)
  assert first["critic/loss/mean"] == 2.0
  assert "perf/steps_per_second" not in first
  (later, _, _), = population.member_statistics(population.groups(config), metrics, {}, 4.0)
  assert later["perf/member_steps_per_second"] == 8.0
