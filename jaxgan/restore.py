"""A run's checkpoint restored after training: samples, evaluations, exports.

Every function here reads the checkpoints read-only and writes only its outputs
(samples/, eval/, metrics.jsonl lines marked as evaluated later, a new workdir
for an exported member), on all the run's members or the one `member` names.
`restore_member` is the restore jaxgan.generator.Generator loads through (and its
jax.export artifact, generator.export_generator).
"""

from __future__ import annotations

import contextlib

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import config_io
from jaxgan import errors
from jaxgan import runs as runs_lib
from jaxgan import summary as summary_lib
from jaxgan import workdir as workdir_lib


def _setup(config, workdir: str, devices=None):
  """(workdir, set-up) of the run in `workdir`, with its own class names (classes.json),
  on `devices` (default: every device of the job)."""
  wd = workdir_lib.Workdir(workdir)
  wd.check_readable_run()
  return wd, runs_lib.setup(config, classes=wd.read_classes(), devices=devices)


def _restored(config, workdir: str, step: int | None, member: int | None):
  """(workdir, set-up, chosen members, step, host state) of a checkpoint (latest, or
  `step`) of the run in `workdir`: every member, or only `member` (ConfigError if it
  is not one)."""
  wd, run = _setup(config, workdir)
  chosen = run.runs.members if member is None else (run.runs.member(member),)
  step, state, _ = run.restore(wd.checkpoints, step)
  return wd, run, chosen, step, state


def restore_member(config, workdir: str, step: int | None = None,
                   member: int | None = None, *, devices=None):
  """(set-up, runs.Member, its host GANState, its step) of checkpoint `step` (None:
  the latest) of the run in `workdir`: the single run, or a population's `member`
  (errors.ConfigError if it is not one, or if a population's is not named). The
  step is the member's own (a member that diverged stopped before the others).
  `devices`: the set-up's (e.g. one device, whatever the run trained on)."""
  wd, run = _setup(config, workdir, devices)
  m = run.runs.member(member)
  _, state, _ = run.restore(wd.checkpoints, step)
  member_state = run.runs.member_state(state, m.index)
  return run, m, member_state, int(member_state.step)


def sample_from_checkpoint(config, workdir: str, step: int | None = None, *,
                           class_id: int | None = None,
                           member: int | None = None, interpolate: int = 0) -> dict:
  """Restores a checkpoint and writes its sample grids.

  Writes WORKDIR/samples/step_N[_ema].{png,npy}, the training-time grids of that
  step redrawn identically; with another log.num_samples than the run's, files
  ending in _n<num>. `class_id` asks for samples of that one class of a
  conditional run (files ending in _class<K>). `interpolate` = K >= 2 writes
  interpolation grids instead (sample.write_grids: K columns, a slerp between two
  fixed latents per row; files ending in _interpolate<K>). A population writes
  each member's grids into samples/member_NN/ and (not for interpolations)
  samples/step_N_members.png; with `member`, only that member's grids. Raises
  errors.ConfigError for a bad `class_id`, `member` or `interpolate`.

  Returns {"step", "written": [(runs.Member, {label: paths})], "picture": the
  population's picture or None}.
  """
  check_interpolate(interpolate)
  wd, run, chosen, step, state = _restored(config, workdir, step, member)
  classes = run.classes
  if class_id is not None and not 0 <= class_id < len(classes):
    raise errors.ConfigError(
        f"--class={class_id} is not a class of this run: " + (
            f"it has classes 0..{len(classes) - 1} ({', '.join(classes)})" if classes else
            "it is unconditional (model.conditional='none')"))
  run_num = wd.read_config(log_upgrade=False).log.num_samples if config.log.num_samples else None
  suffix = "" if config.log.num_samples == run_num else f"_n{config.log.num_samples}"
  wd.check_outputs_writable(wd.samples)
  written, picture = run.runs.write_samples(
      run.spec, state, wd.samples, step, members=chosen,
      picture=member is None and not interpolate, suffix=suffix, class_names=run.classes,
      class_id=class_id, interpolate=interpolate)
  return {"step": step, "written": [(m, written[m.index]) for m in chosen],
          "picture": picture}


def check_interpolate(interpolate: int) -> None:
  """Raises errors.ConfigError unless `interpolate` is 0 (none) or a grid's K >= 2."""
  if interpolate and interpolate < 2:
    raise errors.ConfigError(f"--interpolate={interpolate}: an interpolation needs at "
                             f"least 2 columns (its two ends), e.g. --interpolate=8")


def evaluate_from_checkpoint(config, workdir: str, step: int | None = None, *,
                             member: int | None = None) -> dict:
  """Restores a checkpoint and evaluates it: WORKDIR/eval/step_N.json and the plots,
  joined to metrics.jsonl and TensorBoard marked as evaluated later.

  A population evaluates every member (or only `member`) into eval/member_NN/, and
  without `member` writes and returns its summary as eval/step_N.json (members
  that had diverged left out). The result also carries "report": (its summary
  line, the paths written).
  """
  wd, run, chosen, step, state = _restored(config, workdir, step, member)
  wd.check_outputs_writable(wd.eval)
  result, report = run.runs.evaluate(
      run.runs.evaluators(run.spec, wd.path, run.classes), state, step, chosen,
      run.runs.diverged_at(state), wd.eval,
      lambda values, tag, fields: summary_lib.add_later_evaluation(
          wd.path, step, values, tag_prefix=tag, **fields),
      summarise=member is None)
  result["report"] = report
  return result


def export_member(config, workdir: str, member: int, to: str,
                  step: int | None = None) -> dict:
  """Writes population member `member` as a standalone single-run workdir `to`.

  `to` gets config.json (the member's single-run config) and a checkpoint of its
  state at its own step with its data position, so it samples, evaluates and
  resumes as the member's single run would; a member that diverged, at its last
  finite state. Returns {"member" (a runs.Member), "step", "workdir", "diverged_at"}.
  Raises errors.ConfigError (no such member) or WorkdirError (`to` holds a run).
  """
  if member is None:
    raise errors.ConfigError("--mode=export --format=workdir needs --member=i (which "
                             "member of a population to write as its own run); "
                             "--format=stablehlo exports a run's generator")
  wd, run = _setup(config, workdir)
  m = run.runs.member(member)
  target = workdir_lib.Workdir(to)
  target.check_writable()
  if target.holds_run():
    raise errors.WorkdirError(f"{target.path} already holds a run; export into a new or "
                              f"empty --to directory")
  _, state, _ = run.restore(wd.checkpoints, step)
  member_state = run.runs.member_state(state, member)
  own_step = int(member_state.step)  # a diverged member stopped before the population
  target.write_config(m.config)
  with contextlib.closing(checkpoint_lib.Checkpointer(
      target.checkpoints, max_to_keep=m.config.log.max_checkpoints)) as ckpt:
    # A run's data position is its step: one item per step from item 0.
    ckpt.save(own_step, member_state, data_position=own_step,
              config_json=config_io.to_json(m.config))
  return {"member": m, "step": own_step, "workdir": target.path,
          "diverged_at": run.runs.diverged_at(state).get(member, 0)}
