"""Evaluation of a generator: the evaluators the config selects, run on one set of samples.

`Evaluator(config, spec, workdir)` turns a GANState into a JSON-ready dict of metrics
and a few plots, during training (every `log.eval_every` steps) and from a checkpoint
(`launch.py --mode=eval`); both write WORKDIR/eval/step_N.json (a population
member's under its sub-folder). Each generator (raw, and EMA when `ema.enabled`)
draws its samples once, from latents fixed by the seed (a stream of their own; a
conditional generator is asked for class i mod K), and every selected evaluator
scores them with its `run(samples, requested) -> dict`: toy.py on the 2-D toy sets;
classifier.py on labelled image datasets (a small classifier's class coverage, FD
and KID, not comparable with published FIDs; requested-class accuracy and intra-FD
when conditional); inception.py on image datasets when `eval.inception_weights` is
set (FID, IS, KID, PRDC comparable with published numbers at equal sample counts).
State-independent set-up happens once, so evaluating during training stays cheap.
"""

from __future__ import annotations

import math
import os
import re

import numpy as np

from jaxgan import fileio
from jaxgan import sample as sample_lib
from jaxgan import train as train_lib
from jaxgan.data import toy as toy_data
from jaxgan.eval import classifier as classifier_lib
from jaxgan.eval import inception as inception_lib
from jaxgan.eval import plots
from jaxgan.eval import toy
from jaxgan.population import best_member, summarize, summary_fields

# Stream id (rng.stream_key) of the evaluation latents: disjoint from the training
# stream and from the sample-grid latents.
_EVAL_LATENT_STREAM = 0xE7A1
# The evaluation classifier and the Inception reference subset are measuring
# instruments: one per dataset, made with this fixed seed (not the run's), so numbers
# from different runs are comparable.
CLASSIFIER_SEED = 0


def eval_latents(seed: int, num: int, z_dim: int):
  """The evaluation latents [num, z_dim]: fixed by the seed, disjoint from training's."""
  return sample_lib.stream_latents(seed, _EVAL_LATENT_STREAM, num, z_dim)


def eval_labels(num: int, num_classes: int) -> np.ndarray:
  """The classes asked of a conditional generator in evaluation: sample i gets i mod K."""
  return (np.arange(num) % num_classes).astype(np.int32)


def classifier_dir(config) -> str:
  """Where the evaluation classifier and the Inception reference are cached:
  eval.classifier_dir, else beside the data.

  Beside the TFDS data (dataset.data_dir, or TFDS's default ~/tensorflow_datasets)
  every run on a dataset shares one classifier, trained once.
  """
  if config.eval.classifier_dir:
    return os.path.expanduser(config.eval.classifier_dir)
  data_dir = config.dataset.data_dir or os.path.join("~", "tensorflow_datasets")
  return os.path.join(os.path.expanduser(data_dir), "jaxgan_classifiers")


def select(config, num_classes: int, share=()) -> list:
  """The evaluators `config` asks for, in result order; `share`: another member's,
  whose set-up the new ones reuse."""
  shared = {type(e): e for e in share}
  if config.dataset.name in toy_data.TOY_DATASETS:
    return [toy.ToyEvaluator(config)]
  out = []
  cache_dir = classifier_dir(config)
  if classifier_lib.supports(config.dataset):
    out.append(classifier_lib.ClassifierEvaluator(
        config, num_classes, cache_dir=cache_dir, seed=CLASSIFIER_SEED,
        share=shared.get(classifier_lib.ClassifierEvaluator)))
  if config.eval.inception_weights:
    out.append(inception_lib.InceptionEvaluator(
        config, cache_dir=cache_dir, seed=CLASSIFIER_SEED,
        share=shared.get(inception_lib.InceptionEvaluator)))
  return out


def _finite_or_none(values: dict) -> dict:
  """JSON has no inf/nan: they become None (and the key says what was measured)."""
  return {k: None if isinstance(v, float) and not math.isfinite(v) else v
          for k, v in values.items()}


class Evaluator:
  """Evaluates GANStates of one run with the evaluators its config selects.

  Args:
    config: the run's config (a population member's own config).
    spec: the run's StepSpec (a single-device one: evaluation runs on the host's
      first device).
    workdir: the run directory; results go to WORKDIR/eval.
    class_names: a conditional run's class names (its classes.json).
    member: the runs.Member evaluated, or None. A member with a `subdir` (one of a
      population) writes to WORKDIR/eval/<subdir>, adds "member" to its results and
      plots only its own loss records; one without is a single run.
    share: another member's Evaluator whose set-up (classifier, held-out split,
      real-data reference, Inception statistics) this one reuses.
  """

  def __init__(self, config, spec: train_lib.StepSpec, workdir: str, *, class_names=(),
               member=None, share: "Evaluator | None" = None):
    self.config = config
    self.spec = spec
    self.workdir = workdir
    self.class_names = tuple(class_names)
    self.member = member if member is not None and member.subdir else None
    self.out_dir = os.path.join(workdir, "eval", *([self.member.subdir] if self.member
                                                   else []))
    self.toy = config.dataset.name in toy_data.TOY_DATASETS
    self.evaluators = select(config, spec.num_classes,
                             () if share is None else share.evaluators)
    # One latent stream: each evaluator uses its first num_samples latents.
    num = max([config.eval.num_samples] + [e.num_samples for e in self.evaluators])
    self.z = eval_latents(config.seed, num, config.model.z_dim)
    # The classes asked of a conditional generator, sample by sample (None: unconditional).
    self.labels = eval_labels(num, spec.num_classes) if spec.num_classes else None

  @property
  def setup_seconds(self) -> float:
    """One-time set-up (classifier, real reference) so far."""
    return sum(e.setup_seconds for e in self.evaluators)

  def __call__(self, state: train_lib.GANState, step: int) -> dict:
    """Evaluates `state` (a host, unreplicated GANState) at `step`; writes JSON + plots.

    Returns the result dict that was written to WORKDIR/eval/step_N.json.
    """
    config = self.config
    os.makedirs(self.out_dir, exist_ok=True)
    result = {"step": int(step), "dataset": config.dataset.name,
              "num_samples": int(config.eval.num_samples),
              "strict_fraction": float(config.eval.strict_fraction), "generators": {}}
    if self.member is not None:
      result["member"] = self.member.as_json()
    if self.labels is not None:
      result["class_names"] = list(self.class_names)
    plot_paths = []
    # How each generator was run (weights, BatchNorm statistics): part of the protocol.
    result["sampling"] = {label: sample_lib.describe_generator(self.spec, state, use_ema)
                          for label, use_ema in sample_lib.generators(config)}
    for label, use_ema in sample_lib.generators(config):
      samples = sample_lib.generator_output(self.spec, state, self.z, use_ema=use_ema,
                                 labels=self.labels)
      values = {}
      for e in self.evaluators:
        requested = None if self.labels is None else self.labels[:e.num_samples]
        values.update(_finite_or_none(e.run(samples[:e.num_samples], requested)))
      result["generators"][label] = values
      stem = os.path.join(self.out_dir,
                          f"step_{step:06d}{'' if label == 'raw' else '_' + label}")
      if self.toy:
        plots.plot_critic_contour(self.spec, state, samples, self.evaluators[0].real,
                                  stem + "_critic.png",
                                  title=f"{config.dataset.name}, step {step} "
                                        f"({label} generator)")
        plot_paths.append(stem + "_critic.png")
      else:
        plots.save_sample_grid(samples, stem + "_samples.png", labels=self.labels,
                               num_classes=self.spec.num_classes,
                               class_names=self.class_names)
        plot_paths.append(stem + "_samples.png")
    for e in self.evaluators:
      if e.real_data_reference is not None:
        result["real_data_reference"] = _finite_or_none(e.real_data_reference)
      result.update(e.describe())
    if not self.toy and not any(isinstance(e, classifier_lib.ClassifierEvaluator)
                                for e in self.evaluators):
      result["note"] = (f"no classifier metrics for dataset {config.dataset.name!r}: it "
                        "has no labels to train the evaluation classifier on")
    loss_plot = os.path.join(self.out_dir, "losses.png")
    records = plots.read_metrics(os.path.join(self.workdir, "metrics.jsonl"))
    if self.member is not None:  # a population's: this member's records
      records = [r for r in records if r.get("member") == self.member.index]
    if plots.plot_losses(records, loss_plot, penalty_weight=float(config.penalty.weight)):
      plot_paths.append(loss_plot)
    result["plots"] = plot_paths
    result["path"] = write_result(result, os.path.join(self.out_dir, f"step_{step:06d}.json"))
    return result


def flat_scalars(result: dict) -> dict:
  """{"eval/raw/modes_covered": 25, ...}: an evaluation's numbers for metrics/TensorBoard."""
  return {f"eval/{label}/{key}": value
          for label, values in result["generators"].items()
          for key, value in values.items() if isinstance(value, (int, float))}


def _describe(values: dict, strict_fraction: float | None = None) -> str:
  parts = []
  # "strict": a mode or class that holds at least eval.strict_fraction of the samples.
  strict = ("strict" if strict_fraction is None else
            f"strict, i.e. with >= {strict_fraction:.0%} of the samples")
  if "modes_covered" in values:
    parts.append(f"{values['modes_covered']}/{values['num_modes']} modes "
                 f"({values['modes_covered_strict']} {strict}), "
                 f"{values['hq_percent']:.1f}% HQ")
  if values.get("fid_inception_v3") is not None:
    parts.append(f"FID {values['fid_inception_v3']:.4g}, IS {values['is_inception_v3']:.3g}")
  if "classes_covered" in values:
    parts.append(f"{values['classes_covered']}/{values['num_classes']} classes "
                 f"({values.get('classes_covered_strict')} {strict}), "
                 f"confidence {values['mean_max_prob']:.2f}")
  if values.get("requested_class_accuracy") is not None:
    parts.append(f"requested class {values['requested_class_accuracy']:.3f} "
                 f"(worst class {values['requested_class_accuracy_min']:.3f})")
  for key, value in values.items():
    if key.startswith(("fd_", "kid_", "sliced_wasserstein")) and not key.startswith(
        "kid_stderr") and value is not None:
      parts.append(f"{key} {value:#.4g}")  # '#': 21.00, never 21, beside 20.57
    elif (key.startswith("intra_fd_") and not re.search(r"_class\d+$", key)
          and value is not None):
      parts.append(f"{key} {value:#.4g}")
  return ", ".join(parts) or "no metrics"


def summary_line(result: dict) -> str:
  """One human line per generator, e.g. 'raw: 25/25 modes (25 strict), 97.2% HQ, ...'."""
  line = "; ".join(f"{label}: {_describe(values, result.get('strict_fraction'))}"
                   for label, values in result["generators"].items())
  return line + _untrustworthy(result)


def _untrustworthy(result: dict) -> str:
  """The warning a line ends with when its classifier is below its accuracy floor."""
  reason = result.get("classifier", {}).get("untrustworthy")
  return f"; CLASSIFIER METRICS UNTRUSTWORTHY: {reason}" if reason else ""


def _summary(per_member: dict) -> dict:
  """population.summarize of each number of members' results worth a mean (not counts
  fixed by the config)."""
  keys = sorted({k for values in per_member.values() for k, v in values.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool)
                 and not k.startswith("num_")})
  return {k: summarize([v[k] for v in per_member.values()
                        if isinstance(v.get(k), (int, float))]) for k in keys}


def _best(per_member: dict, members, metric: str):
  best = best_member({i: v.get(metric) for i, v in per_member.items()}, metric)
  return None if best is None else {**members[best[0]].as_json(), "value": best[1]}


def population_result(step: int, results: dict, members, groups, diverged: dict,
                      best_metric: str) -> dict:
  """A population's evaluation at `step` from its members' results.

  results: {member index: Evaluator result} of the members summarised; members: every
  runs.Member in index order; groups: the population.Group of each sweep combination;
  diverged: {member index: step it diverged at} (left out of the summaries);
  best_metric: the number that names the best member.

  Returns {"step", "best_metric", "members" (per-member entries), "best" ({generator
  label: the best member's index, seed, values and "value"}), "groups" ([{"values",
  "members" summarised, "summary": {label: {key: population.summarize(...)}},
  "best"}]), "diverged"}. A key's summary uses the members with a finite value for it.
  """
  out = {"step": int(step), "best_metric": best_metric, "members": [], "best": {},
         "groups": [], "diverged": {str(i): int(d) for i, d in sorted(diverged.items())}}
  for m in members:
    if m.index in results:
      r = results[m.index]
      out["members"].append({**m.as_json(), "generators": r["generators"], "path": r["path"]})
    elif m.index in diverged:
      out["members"].append({**m.as_json(), "diverged_at": int(diverged[m.index])})
  for r in results.values():  # one classifier scores every member
    if "classifier" in r:
      out["classifier"] = r["classifier"]
      break
  for r in results.values():  # the members share one step spec: one way of sampling
    if "sampling" in r:
      out["sampling"] = r["sampling"]
      break
  labels = list(next(iter(results.values()))["generators"]) if results else []
  for label in labels:
    out["best"][label] = _best({i: r["generators"][label] for i, r in results.items()},
                               members, best_metric)
  for group in groups:
    indices = [i for i in group.members if i in results]
    entry = {"values": dict(group.values), "members": indices, "summary": {}, "best": {}}
    for label in labels:
      per_member = {i: results[i]["generators"][label] for i in indices}
      entry["summary"][label] = _summary(per_member)
      entry["best"][label] = _best(per_member, members, best_metric)
    out["groups"].append(entry)
  return out


def write_result(result: dict, path: str) -> str:
  """Writes an evaluation result as JSON (atomically); returns the path."""
  return fileio.write_json_atomic(path, result)


def population_scalars(result: dict) -> list[tuple[dict, dict]]:
  """A population evaluation's records for metrics.jsonl / TensorBoard: one
  (fields, scalars) per sweep combination, scalars eval/raw/KEY/mean, .../std,
  .../ci95, and in the first also eval/raw/best_member and .../best_value over
  the whole population."""
  records = []
  for g, group in enumerate(result["groups"]):
    scalars = {}
    for label, summary in group["summary"].items():
      for key, s in summary.items():
        scalars.update({f"eval/{label}/{key}/{stat}": s[stat]
                        for stat in ("mean", "std", "ci95") if s[stat] is not None})
    if g == 0:
      for label, best in result["best"].items():
        if best is not None:
          scalars[f"eval/{label}/best_member"] = best["member"]
          scalars[f"eval/{label}/best_value"] = best["value"]
    records.append((summary_fields(group["values"], len(group["members"])),
                    scalars))
  return records


def population_summary_line(result: dict) -> str:
  """Per combination and generator, e.g. 'raw: fd_digits_classifier 16.9 +- 2.1 (95% CI
  over 8 members)', then the best member."""
  metric = result["best_metric"]
  parts = []
  for group in result["groups"]:
    for label, summary in group["summary"].items():
      stats = []
      for key in dict.fromkeys((metric, "classes_covered", "modes_covered", "hq_percent")):
        if key in summary:
          s = summary[key]
          spread = f" +- {s['ci95']:.3g}" if s["ci95"] is not None else ""
          if s["n"] == 2:  # Student's t with 1 degree of freedom: 12.7 std, uninformative
            half = s["std"] / math.sqrt(2)
            spread = f" (the two: {s['mean'] - half:.4g}, {s['mean'] + half:.4g})"
          stats.append(f"{key} {s['mean']:.4g}{spread}")
      where = ",".join(f"{k}={v:g}" for k, v in group["values"].items())
      interval = "95% CI over " if len(group["members"]) > 2 else ""
      parts.append(f"{where + ' ' if where else ''}{label}: {', '.join(stats) or 'no metrics'} "
                   f"({interval}{len(group['members'])} member(s))")
  for label, best in result["best"].items():
    if best is not None:
      parts.append(f"best {label}: member {best['member']} (seed {best['seed']}) "
                   f"{metric} {best['value']:.4g}")
  return "; ".join(parts) + _untrustworthy(result)
