"""What a run logs, in two forms: WORKDIR/metrics.jsonl and TensorBoard event files.

`RunLog` is the loop's one writer: every logged step goes to metrics.jsonl (one JSON
object per line, `{"step": N, ...}`) and the same numbers to TensorBoard scalars in
WORKDIR; sample grids go to TensorBoard as images. Only the lead process writes.

On resume from step S, lines an interrupted run logged after S move to
metrics.orphaned.jsonl, so metrics.jsonl keeps monotone steps and nothing is lost.
Evaluation records (keys `eval/...`) are apart from training ones; one made later
from a checkpoint (--mode=eval) joins them at its step, marked "evaluated_later".

A population (jaxgan/population.py) writes one record per member,
`{"step": N, "member": i, ...}` (TensorBoard tags `member_i/...`), and one
record of statistics over its members, `{"step": N, "summary": "population", ...}`
(tags `population/...`); a single run's records have neither field.
"""

from __future__ import annotations

import json
import os

import numpy as np

from jaxgan import fileio


def _record(step: int, values: dict, **fields) -> str:
  """One metrics.jsonl line: step, then `fields` as given (e.g. member=3), then the floats."""
  record = {"step": int(step), **fields}
  record.update({k: float(v) for k, v in values.items()})
  return json.dumps(record) + "\n"


def _rewrite(path: str, lines: list[str]) -> None:
  fileio.write_atomic(path, lambda f: f.writelines(lines), mode="w")


def add_later_evaluation(workdir: str, step: int, scalars: dict, *, tag_prefix: str = "",
                         **fields) -> None:
  """Inserts a --mode=eval result into metrics.jsonl (in step order, with `fields` as
  RunLog.scalars) and TensorBoard (tags after `tag_prefix`)."""
  path = os.path.join(workdir, "metrics.jsonl")
  lines = []
  if os.path.exists(path):
    with open(path) as f:
      lines = [line for line in f if line.strip()]
  at = next((i for i, line in enumerate(lines) if json.loads(line)["step"] > step),
            len(lines))
  lines.insert(at, _record(step, scalars, evaluated_later=True, **fields))
  _rewrite(path, lines)
  from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  writer = SummaryWriter(workdir)
  try:
    for key, value in scalars.items():
      writer.add_scalar(tag_prefix + key, float(value), int(step))
  finally:
    writer.close()


class RunLog:
  """metrics.jsonl + TensorBoard for one run (the lead process's)."""

  def __init__(self, workdir: str, resume_step: int):
    # tensorboardX writes event files without TensorFlow, so toy runs stay TF-free.
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    path = os.path.join(workdir, "metrics.jsonl")
    if os.path.exists(path):  # lines after resume_step move to metrics.orphaned.jsonl
      with open(path) as f:
        lines = [line for line in f if line.strip()]
      orphans = [l for l in lines if json.loads(l)["step"] > resume_step]
      if orphans:
        with open(os.path.join(workdir, "metrics.orphaned.jsonl"), "a") as f:
          f.writelines(orphans)
        _rewrite(path, [l for l in lines if json.loads(l)["step"] <= resume_step])
    self._metrics = open(path, "a")
    # purge_step drops events a killed run wrote after the step we resume from, as
    # metrics.jsonl does, so TensorBoard's curves have no doubled stretch.
    self._tb = SummaryWriter(workdir, purge_step=resume_step + 1 if resume_step else None,
                             flush_secs=30)

  def scalars(self, step: int, values: dict, *, tag_prefix: str = "", **fields) -> None:
    """One record in metrics.jsonl (with `fields`, e.g. member=3) and the same
    scalars in TensorBoard, their tags after `tag_prefix` (e.g. "member_3/")."""
    self._metrics.write(_record(step, values, **fields))
    self._metrics.flush()
    for key, value in values.items():
      self._tb.add_scalar(tag_prefix + key, float(value), int(step))

  def image(self, step: int, tag: str, png_path: str) -> None:
    """A written PNG (sample grid or scatter plot) as a TensorBoard image."""
    from PIL import Image  # pylint: disable=g-import-not-at-top
    with Image.open(png_path) as img:
      pixels = np.asarray(img.convert("RGB"))
    self._tb.add_image(tag, pixels, int(step), dataformats="HWC")

  def close(self) -> None:
    self._metrics.close()
    self._tb.close()
