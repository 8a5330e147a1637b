"""A run's checkpoint restored after training: samples, evaluations, a member exported.

Every function here reads the checkpoints read-only and writes only its outputs
(samples/, eval/, metrics.jsonl lines marked as evaluated later, or a new workdir
for an exported member), on all the run's members or the one `member` names.
"""

from __future__ import annotations

import contextlib

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import config_io
from jaxgan import errors
from jaxgan import runs as runs_lib
from jaxgan import summary as summary_lib
from jaxgan import workdir as workdir_lib


def _setup(config, workdir: str):
  """(workdir, set-up) of the run in `workdir`, with its own class names (classes.json)."""
  wd = workdir_lib.Workdir(workdir)
  wd.check_readable_run()
  return wd, runs_lib.setup(config, classes=wd.read_classes())


def _restored(config, workdir: str, step: int | None, member: int | None):
  """(workdir, set-up, chosen members, step, host state) of a checkpoint (latest, or
  `step`) of the run in `workdir`: every member, or only `member` (ConfigError if it
  is not one)."""
  wd, run = _setup(config, workdir)
  chosen = run.runs.members if member is None else (run.runs.member(member),)
  step, state, _ = run.restore(wd.checkpoints, step)
  return wd, run, chosen, step, state


def sample_from_checkpoint(config, workdir: str, step: int | None = None, *,
                           class_id: int | None = None,
                           member: int | None = None) -> dict:
  """Restores a checkpoint and writes its sample grids.

  Writes WORKDIR/samples/step_N[_ema].{png,npy}, the training-time grids of that
  step redrawn identically; with another log.num_samples than the run's, files
  ending in _n<num>. `class_id` asks for samples of that one class of a
  conditional run (files ending in _class<K>). A population writes each member's
  grids into samples/member_NN/ and samples/step_N_members.png; with `member`,
  only that member's grids. Raises errors.ConfigError for a bad `class_id` or
  `member`.

  Returns {"step", "written": [(runs.Member, {label: paths})], "picture": the
  population's picture or None}.
  """
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
      run.spec, state, wd.samples, step, members=chosen, picture=member is None,
      suffix=suffix, class_names=run.classes, class_id=class_id)
  return {"step": step, "written": [(m, written[m.index]) for m in chosen],
          "picture": picture}


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
    raise errors.ConfigError("--mode=export needs --member=i (which member to export)")
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
