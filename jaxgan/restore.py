"""A run's checkpoint restored after training: samples, evaluations, a member exported.

Every function here reads the workdir's checkpoints read-only and writes only its
outputs (samples/, eval/, metrics.jsonl lines marked as evaluated later, or a new
workdir for an exported population member); none changes the run.
"""

from __future__ import annotations

import os

import numpy as np

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import config_io
from jaxgan import errors
from jaxgan import evaluate as evaluate_lib
from jaxgan import loop
from jaxgan import population as population_lib
from jaxgan import sample as sample_lib
from jaxgan import summary as summary_lib
from jaxgan import workdir as workdir_lib


def restore(config, workdir: str, step: int | None = None):
  """(spec, step, host state) of a checkpoint (latest, or `step`); read-only.

  Raises errors.NoCheckpointError naming the directory and the available steps.
  """
  wd = workdir_lib.Workdir(workdir)
  wd.check_readable_run()
  data_shape, spec, abstract = loop.build(config, loop.run_classes(config, workdir))
  ckpt = checkpoint_lib.Checkpointer(wd.checkpoints, read_only=True)
  try:
    step, state, _ = ckpt.restore(abstract, step)
  finally:
    ckpt.close()
  if population_lib.is_population(config):
    state = population_lib.with_config_hparams(state, config)
  return spec, step, state


def check_member(config, workdir: str, member: int | None) -> None:
  """Raises ConfigError unless `member` is None or a member of the run in `workdir`."""
  if member is None:
    return
  if not population_lib.is_population(config):
    raise errors.ConfigError(f"--member={member}: the run in {workdir} is a single run, "
                             f"not a population")
  try:
    population_lib.member(config, member)
  except ValueError as e:
    raise errors.ConfigError(f"--member={member}: {e}") from None


def sample_from_checkpoint(config, workdir: str, step: int | None = None, *,
                           class_id: int | None = None,
                           member: int | None = None) -> dict:
  """Restores a checkpoint and writes its sample grids; returns {label: paths, "step"}.

  Writes WORKDIR/samples/step_N[_ema].{png,npy} for log.num_samples latents (the
  training-time grids of that step, redrawn identically); with a different
  log.num_samples than the run's, the files end in _n<num> and never replace them.
  A conditional run's grid has one row per class; `class_id` asks for
  log.num_samples samples of that one class instead (files ending in _class<K>).

  Raises errors.ConfigError for a `class_id` of an unconditional run or out of range.

  A population writes each member's grids into samples/member_NN/ and the grid
  with a row per member, samples/step_N_members.png, and returns {member index:
  {label: paths}, "members": path, "step"}; with `member`, only that member's.
  """
  check_member(config, workdir, member)
  wd = workdir_lib.Workdir(workdir)
  classes = loop.run_classes(config, workdir)
  if class_id is not None and not 0 <= class_id < len(classes):
    raise errors.ConfigError(
        f"--class={class_id} is not a class of this run: " + (
            f"it has classes 0..{len(classes) - 1} ({', '.join(classes)})" if classes else
            "it is unconditional (model.conditional='none')"))
  spec, step, state = restore(config, workdir, step)
  run_num = wd.read_config(log_upgrade=False).log.num_samples if config.log.num_samples else None
  suffix = "" if config.log.num_samples == run_num else f"_n{config.log.num_samples}"
  wd.check_outputs_writable(wd.samples)
  if population_lib.is_population(config):
    if member is None:
      out = sample_lib.write_population(spec, state, config, wd.samples, step, suffix=suffix)
    else:
      out = {member: sample_lib.write_generators(
          spec, population_lib.member_state(state, member),
          population_lib.member_config(config, member),
          os.path.join(wd.samples, population_lib.member_dir(member)), step, suffix=suffix)}
  else:
    out = sample_lib.write_generators(spec, state, config, wd.samples, step, suffix=suffix,
                                      class_names=classes, class_id=class_id)
  out["step"] = step
  return out


def evaluate_from_checkpoint(config, workdir: str, step: int | None = None, *,
                             member: int | None = None) -> dict:
  """Restores a checkpoint and evaluates it.

  Writes WORKDIR/eval/step_N.json and the plots (jaxgan/evaluate.py), and joins
  the result to metrics.jsonl and TensorBoard marked as evaluated later.

  A population evaluates every member (or only `member`) into eval/member_NN/,
  and without `member` writes the population's summary as eval/step_N.json
  (members that had diverged are evaluated but left out of it) and returns it.
  """
  check_member(config, workdir, member)
  wd = workdir_lib.Workdir(workdir)
  spec, step, state = restore(config, workdir, step)
  wd.check_outputs_writable(wd.eval)
  if not population_lib.is_population(config):
    result = evaluate_lib.Evaluator(config, spec, wd.path,
                                    class_names=loop.run_classes(config, workdir))(state, step)
    summary_lib.add_later_evaluation(wd.path, step, evaluate_lib.flat_scalars(result))
    return result
  evaluators = loop.member_evaluators(config, spec, wd)
  results = {}
  for i in evaluators if member is None else [member]:
    results[i] = evaluators[i](population_lib.member_state(state, i), step)
    summary_lib.add_later_evaluation(wd.path, step, evaluate_lib.flat_scalars(results[i]),
                                     tag_prefix=f"member_{i}/", member=i)
  if member is not None:
    return results[member]
  diverged = {i: int(d) for i, d in enumerate(np.asarray(state.diverged_at)) if d}
  result = loop.population_evaluation(
      config, wd, step, {i: r for i, r in results.items() if i not in diverged}, diverged)
  for fields, scalars in evaluate_lib.population_scalars(result):
    summary_lib.add_later_evaluation(wd.path, step, scalars, tag_prefix=population_lib.summary_tag(
        fields.get("sweep", {})), **fields)
  return result


def export_member(config, workdir: str, member: int, to: str,
                  step: int | None = None) -> dict:
  """Writes population member `member` as a standalone single-run workdir `to`.

  `to` gets config.json (population.member_config: the member's seed and swept
  values, no population) and a checkpoint of the member's state at its own step
  with its data position, so it samples, evaluates and resumes like any run,
  continuing as the member's single run would. A member that diverged is
  exported at its last finite state. Returns {"member", "step", "workdir",
  "diverged_at"}.

  Raises:
    errors.ConfigError: `workdir` is not a population or has no such member.
    errors.WorkdirError: `to` already holds a run.
  """
  if member is None:
    raise errors.ConfigError("--mode=export needs --member=i (which member to export)")
  check_member(config, workdir, member)
  target = workdir_lib.Workdir(to)
  target.check_writable()
  if target.holds_run():
    raise errors.WorkdirError(f"{target.path} already holds a run; export into a new or "
                              f"empty --to directory")
  _, _, state = restore(config, workdir, step)
  member_state = population_lib.member_state(state, member)
  own_step = int(member_state.step)  # a diverged member stopped before the population
  member_config = population_lib.member_config(config, member)
  target.write_config(member_config)
  ckpt = checkpoint_lib.Checkpointer(target.checkpoints,
                                     max_to_keep=member_config.log.max_checkpoints)
  try:
    # A run's data position is its step: one item per step from item 0.
    ckpt.save(own_step, member_state, data_position=own_step,
              config_json=config_io.to_json(member_config))
  finally:
    ckpt.close()
  return {"member": population_lib.member(config, member), "step": own_step,
          "workdir": target.path, "diverged_at": int(np.asarray(state.diverged_at)[member])}
