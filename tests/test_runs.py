"""jaxgan/runs.py: which runs a config holds, and the one set-up chain every mode uses."""

import jax
import numpy as np
import pytest

from configs import wgan_gp
from jaxgan import errors
from jaxgan import runs
from jaxgan import train as train_lib


def _toy(**population):
  config = wgan_gp.get_config("dataset=8gaussians")
  config.train.batch_size = 16
  config.model.hidden = (16, 16)
  for key, value in population.items():
    config.population[key] = value
  return config


def _leaves_equal(a, b) -> bool:
  return all(np.array_equal(np.asarray(x), np.asarray(y))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def test_a_single_run_is_one_member_with_no_subfolder_tag_or_record_fields():
  r = runs.Runs(_toy())
  assert not r.many and len(r) == 1
  (m,) = r.members
  assert (m.index, m.seed, m.values, m.subdir, m.tag, m.fields) == (0, 0, (), "", "", {})
  assert m.describe() == "the run"
  assert r.member(None) is m


def test_a_population_has_a_member_per_seed_and_sweep_value_each_with_its_own_config():
  config = _toy(size=2)
  config.population.sweep.penalty_weight = (1.0, 10.0)
  r = runs.Runs(config)
  assert r.many and len(r) == 4
  # Seeds vary fastest, sweep combinations outer.
  assert [(m.seed, dict(m.values)["penalty_weight"]) for m in r.members] == [
      (0, 1.0), (1, 1.0), (0, 10.0), (1, 10.0)]
  m = r.members[3]
  assert (m.subdir, m.tag, m.fields) == ("member_03", "member_3/", {"member": 3})
  assert m.config.seed == 1 and m.config.penalty.weight == 10.0
  assert m.config.population.size == 1  # a member's config is a single run's
  assert [g.members for g in r.groups] == [(0, 1), (2, 3)]


@pytest.mark.parametrize("many,index,message", [
    (False, 0, "single run, not a population"),
    (True, 5, "the population has 2 members, 0 to 1"),
    (True, None, "name one with --member"),
])
def test_asking_for_a_member_that_is_not_there_is_one_config_error(many, index, message):
  r = runs.Runs(_toy(size=2) if many else _toy())
  with pytest.raises(errors.ConfigError, match=message):
    r.member(index)


def test_the_set_up_step_is_train_step_on_the_same_state_and_batch():
  run = runs.setup(_toy(), devices=jax.devices()[:1])
  state = run.init_state()
  batch = np.random.default_rng(0).uniform(
      -1, 1, (run.config.train.n_critic, 16, *run.data_shape)).astype(np.float32)
  expected_state, expected = jax.jit(
      lambda s, b: train_lib.train_step(s, b, spec=run.spec))(state, batch)
  step, placed = run.compile(state)
  new_state, metrics = step(placed, run.global_batch(batch))
  assert _leaves_equal(metrics, expected)
  assert _leaves_equal(new_state, expected_state)


def test_each_population_member_starts_from_its_single_runs_initial_state():
  population = runs.setup(_toy(size=3), devices=jax.devices()[:1])
  state = population.init_state()
  for m in population.runs.members:
    single = runs.setup(m.config, devices=jax.devices()[:1]).init_state()
    assert _leaves_equal(population.runs.member_state(state, m.index), single)
  # The abstract state (what a checkpoint restores into) has the same structure.
  assert (jax.tree.structure(population.abstract_state) == jax.tree.structure(state))
