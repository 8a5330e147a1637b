"""Joining a multi-process job, agreeing on a stop, and noticing a lost process.

`detect(environ, ...)` reads what a launcher left in the environment and returns
the `Job` this process belongs to: SLURM (`srun`: SLURM_JOB_ID, SLURM_STEP_NODELIST,
SLURM_NTASKS, SLURM_PROCID, SLURM_LOCALID), Open MPI (`mpirun`: OMPI_COMM_WORLD_SIZE,
OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_LOCAL_RANK, OMPI_MCA_orte_hnp_uri), a Cloud TPU
VM (jax finds the pod's workers itself), the explicit --coordinator_address/
--num_processes/--process_id flags (which override any of those), or none of them: one
process. The coordinator address is derived exactly as `jax.distributed.initialize()`
derives it (jax's own cluster classes; JAX_COORDINATOR_PORT overrides the port). A
launcher environment that is only half there (e.g. SLURM_NTASKS=4 without
SLURM_PROCID: python started by sbatch without srun) is a ConfigError naming what
is missing, never a silent one-process run on a 4-task allocation.

`join(job, ...)` starts jax.distributed within a bounded time: jax aborts the
process (a C++ fatal error, no Python exception) when the coordinator cannot be
reached, so a timer ends the process first with one line and exit 2.

`StopVote` makes every process stop at the same step: each step every process
contributes its own stop request (the signal it received, or 0) to a max over all
devices, read one step later so the host never waits for it; all read the same
value, so all save the same step.

The watchdog: every process writes a counter into the coordination service's
key-value store and reads everyone's; a process whose counter stands still for
--heartbeat_timeout seconds is lost, and the others end (exit LOST_EXIT) with one
line naming it and the last checkpoint on disk. (If the lost process is process 0,
which hosts jax's coordination service, jax itself aborts the others at once with
"the JAX distributed service detected fatal errors": that is a C++ abort Python
cannot intercept.)
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import Mapping

from jaxgan import errors

logger = logging.getLogger("jaxgan")

# sysexits.h EX_TEMPFAIL ("a temporary failure; the user is invited to retry"):
# rerunning the job resumes from the last checkpoint.
LOST_EXIT = 75
_ALIVE = "jaxgan/alive/"  # key-value directory of the watchdog's counters
_DONE = "done"  # a counter's value once its process has ended normally

_SLURM = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
          "SLURM_LOCALID")  # what jax's SlurmCluster reads (jax/_src/clusters/slurm_cluster.py)
_OMPI = ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK")
_OMPI_URI = "OMPI_MCA_orte_hnp_uri"  # set by Open MPI's mpirun (jax's OmpiCluster)


@dataclasses.dataclass(frozen=True)
class Job:
  """The job this process belongs to (`num_processes == 1`: no job to join)."""
  environment: str  # "slurm", "open mpi", "cloud tpu", "flags" or "none"
  num_processes: int | None  # None: jax finds out (a Cloud TPU pod)
  process_id: int | None
  coordinator: str | None = None  # HOST:PORT of process 0's coordination service
  local_device_ids: tuple[int, ...] | None = None  # GPUs this process may use (None: all)
  note: str = ""  # what the start line adds, e.g. "job 1234"

  @property
  def joins(self) -> bool:
    return self.environment == "cloud tpu" or (self.num_processes or 1) > 1


def _ints(environ, names, where):
  values = []
  for name in names:
    try:
      values.append(int(environ[name]))
    except ValueError:
      raise errors.ConfigError(f"{where}: {name}={environ[name]!r} is not an integer") from None
  return values


def _slurm(environ) -> Job | None:
  if "SLURM_JOB_ID" not in environ:
    return None
  missing = [v for v in _SLURM if v not in environ]
  tasks = environ.get("SLURM_NTASKS", environ.get("SLURM_NPROCS", "1"))
  if missing:
    if tasks.isdigit() and int(tasks) > 1:  # a many-task allocation, but no srun task
      raise errors.ConfigError(
          f"SLURM job {environ['SLURM_JOB_ID']} has SLURM_NTASKS={tasks} but "
          f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: start one "
          f"process per task with srun (docs/scaling.md), or pass --cluster=none to run "
          f"this one process alone")
    return None  # an sbatch script or salloc shell of one task: a plain machine
  job_id, ntasks, procid, localid = _ints(
      environ, ("SLURM_JOB_ID", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID"), "SLURM")
  if not 0 <= procid < ntasks:
    raise errors.ConfigError(f"SLURM: SLURM_PROCID={procid} is not in [0, SLURM_NTASKS="
                             f"{ntasks})")
  if ntasks == 1:
    return Job("slurm", 1, 0, note=f"job {job_id} of one task")
  address = environ.get("JAX_COORDINATOR_ADDRESS")  # jax's own override
  if address is None:
    from jax._src.clusters import slurm_cluster  # pylint: disable=g-import-not-at-top
    with _environment(environ):
      address = slurm_cluster.SlurmCluster.get_coordinator_address(
          None, environ.get("JAX_COORDINATOR_PORT"))
  return Job("slurm", ntasks, procid, address, _local_devices(environ, localid, ntasks),
             note=str(job_id))


def _ompi(environ) -> Job | None:
  if "OMPI_COMM_WORLD_SIZE" not in environ:
    return None
  missing = [v for v in _OMPI if v not in environ]
  if missing:
    raise errors.ConfigError(f"Open MPI: OMPI_COMM_WORLD_SIZE is set but {', '.join(missing)} "
                             f"not: start the processes with mpirun")
  size, rank, local = _ints(environ, _OMPI, "Open MPI")
  if not 0 <= rank < size:
    raise errors.ConfigError(f"Open MPI: OMPI_COMM_WORLD_RANK={rank} is not in [0, "
                             f"OMPI_COMM_WORLD_SIZE={size})")
  if size == 1:
    return Job("open mpi", 1, 0, note="of one rank")
  address = environ.get("JAX_COORDINATOR_ADDRESS")
  if address is None:
    if _OMPI_URI not in environ:
      raise errors.ConfigError(
          f"Open MPI: {_OMPI_URI} is not set (Open MPI 5's prterun does not set it): pass "
          f"--coordinator_address=HOST:PORT of rank 0's host, or set JAX_COORDINATOR_ADDRESS")
    from jax._src.clusters import ompi_cluster  # pylint: disable=g-import-not-at-top
    with _environment(environ):
      address = ompi_cluster.OmpiCluster.get_coordinator_address(
          None, environ.get("JAX_COORDINATOR_PORT"))
  return Job("open mpi", size, rank, address, _local_devices(environ, local, size))


def _local_devices(environ, local_id: int, tasks: int) -> tuple[int, ...] | None:
  """The GPU a task may use when several tasks share a node (jax's default: the one
  numbered like the task's local rank), unless the launcher already gave each task
  its own (CUDA_VISIBLE_DEVICES of one GPU) or the node runs one task (all GPUs)."""
  per_node = environ.get("SLURM_NTASKS_PER_NODE") or environ.get(
      "OMPI_COMM_WORLD_LOCAL_SIZE")
  nodes = environ.get("SLURM_STEP_NUM_NODES") or environ.get("SLURM_JOB_NUM_NODES")
  if per_node is None and nodes and nodes.isdigit():
    per_node = str(-(-tasks // int(nodes)))
  visible = environ.get("CUDA_VISIBLE_DEVICES")
  if per_node == "1" or (visible is not None and "," not in visible):
    return None
  return (local_id,)


@contextlib.contextmanager
def _environment(environ):
  """os.environ as `environ` inside the block (jax's cluster classes read os.environ)."""
  if environ is os.environ:
    yield
    return
  saved = dict(os.environ)
  os.environ.clear()
  os.environ.update(environ)
  try:
    yield
  finally:
    os.environ.clear()
    os.environ.update(saved)


def detect(environ: Mapping[str, str], *, address: str | None = None,
           num_processes: int | None = None, process_id: int | None = None,
           cluster: str = "auto", tpu_vm: bool = False) -> Job:
  """The job of this process: the flags over the launcher's environment.

  `cluster`: "auto" (read the environment) or "none" (ignore it). `tpu_vm`: whether
  jax found a Cloud TPU VM (it reads the pod's layout from the TPU metadata itself).
  Raises errors.ConfigError for flags or an environment that are incomplete.
  """
  found = None
  if cluster == "auto":
    if address is not None:  # the flag stands in for what the launcher may not say
      environ = dict(environ, JAX_COORDINATOR_ADDRESS=address)
    found = _slurm(environ) or _ompi(environ)
  if address is None and num_processes is None and process_id is None:
    if found is not None:
      return found
    if cluster == "auto" and tpu_vm:
      return Job("cloud tpu", None, None)
    return Job("none", 1, 0)
  # Explicit flags override what the launcher says, one by one.
  address = address if address is not None else (found.coordinator if found else None)
  if num_processes is None and found is not None:
    num_processes = found.num_processes
  if process_id is None and found is not None:
    process_id = found.process_id
  if address is None:
    raise errors.ConfigError(
        "--num_processes/--process_id need --coordinator_address=HOST:PORT")
  if num_processes is None or num_processes < 1:
    raise errors.ConfigError(f"--num_processes must be >= 1 with --coordinator_address, "
                             f"got {num_processes}")
  if process_id is None or not 0 <= process_id < num_processes:
    raise errors.ConfigError(f"--process_id must be in [0, {num_processes}), got {process_id}")
  environment = "flags" if found is None else found.environment
  return Job(environment, num_processes, process_id, address,
             found.local_device_ids if found else None,
             note=(found.note + " " if found and found.note else "") + "(flags override)")


def describe(job: Job) -> str:
  """The start line's words for the job (before the devices), e.g. 'process 1 of 2
  (slurm job 4242, coordinator node007:61586)' or 'process 0 of 1 (no cluster
  environment)'."""
  if not job.joins:
    where = "no cluster environment" if job.environment == "none" else (
        f"{job.environment}{' ' + job.note if job.note else ''}")
    return f"process 0 of 1 ({where})"
  import jax  # pylint: disable=g-import-not-at-top
  what = {"flags": "job of --coordinator_address", "cloud tpu": "cloud tpu pod"}.get(
      job.environment, f"{job.environment} job")
  note = f" {job.note}" if job.note else ""
  return (f"process {jax.process_index()} of {jax.process_count()} ({what}{note}, "
          f"coordinator {_JOINED.coordinator or job.coordinator})")


@dataclasses.dataclass
class _Joined:
  job: Job | None = None
  coordinator: str | None = None
  client: object = None  # jax's coordination-service client (its key-value store)
  heartbeat_timeout: float = 0.0
  checkpoints: str | None = None  # the run's checkpoint directory, once training
  lost: threading.Event = dataclasses.field(default_factory=threading.Event)
  leaving: threading.Event = dataclasses.field(default_factory=threading.Event)
  finished: bool = False


_JOINED = _Joined()  # jax.distributed itself is one per process


def join(job: Job, *, join_timeout: float, heartbeat_timeout: float) -> None:
  """Starts jax.distributed for `job` (nothing for a one-process job) and the watchdog.

  Not joined within `join_timeout` seconds (coordinator unreachable, a process
  missing): one `error:` line, exit 2.
  """
  for name, value in (("join_timeout", join_timeout), ("heartbeat_timeout", heartbeat_timeout)):
    if not value > 0:
      raise errors.ConfigError(f"--{name} must be > 0 seconds, got {value:g}")
  if not job.joins:
    return
  import jax  # pylint: disable=g-import-not-at-top
  # On CPU, cross-process collectives need gloo (GPUs use NCCL, TPUs their ICI).
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  # jaxgan agrees on a stop itself (StopVote); jax's preemption notifier would
  # install its own SIGTERM handler beside the loop's.
  jax.config.update("jax_enable_preemption_service", False)
  done = threading.Event()
  timer = threading.Thread(target=_join_timer, args=(job, join_timeout, done), daemon=True)
  timer.start()
  try:
    jax.distributed.initialize(
        coordinator_address=job.coordinator, num_processes=job.num_processes,
        process_id=job.process_id,
        local_device_ids=list(job.local_device_ids) if job.local_device_ids else None,
        cluster_detection_method=None if job.environment == "cloud tpu" else "deactivate",
        # jax's own limits stay above jaxgan's, so that jaxgan's line comes first.
        initialization_timeout=int(join_timeout) + 60,
        heartbeat_timeout_seconds=int(2 * heartbeat_timeout) + 10)
  except (ValueError, RuntimeError) as e:  # e.g. a TPU VM whose pod layout jax cannot read
    raise errors.ConfigError(
        f"could not join the {job.environment} job: {str(e).splitlines()[0]}; pass "
        f"--coordinator_address/--num_processes/--process_id, or --cluster=none") from e
  finally:
    done.set()
  _JOINED.job, _JOINED.heartbeat_timeout = job, heartbeat_timeout
  from jax._src import distributed  # pylint: disable=g-import-not-at-top  (its client)
  _JOINED.coordinator = distributed.global_state.coordinator_address
  _JOINED.client = distributed.global_state.client
  threading.Thread(target=_watchdog, args=(jax.process_index(), jax.process_count()),
                   daemon=True, name="jaxgan-watchdog").start()
  # Registered after jax's own exit handler, so it runs before jax.distributed shuts down.
  atexit.register(_leave, jax.process_index())


def finished() -> None:
  """This process did all it was asked: at exit it counts as done, not lost, while
  another may still be evaluating."""
  _JOINED.finished = True


def _leave(me: int) -> None:
  """At exit, before jax's client goes away: the watchdog stops; a process that
  finished says so, one that failed falls silent and the others stop too (an
  error on one process would otherwise leave them waiting in a collective)."""
  _JOINED.leaving.set()
  if _JOINED.finished:
    with contextlib.suppress(Exception):
      _JOINED.client.key_value_set(f"{_ALIVE}{me}", _DONE, allow_overwrite=True)


def _join_timer(job: Job, timeout: float, done: threading.Event) -> None:
  if done.wait(timeout):
    return
  if job.process_id == 0:
    why = f"not all {job.num_processes} processes joined"
  elif job.coordinator and not _answers(job.coordinator):
    why = f"nothing answers at {job.coordinator} (is process 0 running there?)"
  else:
    why = f"process 0's coordinator at {job.coordinator} answered but the job did not form"
  _die(f"could not join the {job.environment} job as process {job.process_id} of "
       f"{job.num_processes} within --join_timeout={timeout:g}s: {why}", 2)


def _answers(address: str) -> bool:
  host, port = address.rsplit(":", 1)
  try:
    with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
      return True
  except OSError:
    return False


def _die(message: str, code: int) -> None:
  """One line on stderr, then the process ends at once: jax's own shutdown would
  wait for the lost peer or abort with a C++ stack trace."""
  try:
    sys.stdout.flush()
  except Exception:  # pylint: disable=broad-except
    pass
  os.write(2, f"error: {message}\n".encode())
  os._exit(code)  # pylint: disable=protected-access


def _watchdog(me: int, count: int) -> None:
  """Writes this process's counter, reads everyone's; ends the process when one stands
  still for the heartbeat timeout, or when the coordinator stops answering."""
  client = _JOINED.client
  timeout = _JOINED.heartbeat_timeout
  interval = max(0.2, timeout / 10)  # ten beats per timeout: one late beat is no loss
  seen = {p: (None, time.monotonic()) for p in range(count) if p != me}
  beat, last_ok = 0, time.monotonic()
  while not _JOINED.leaving.is_set():
    now = time.monotonic()
    try:
      beat += 1
      client.key_value_set(f"{_ALIVE}{me}", str(beat), allow_overwrite=True)
      values = dict(client.key_value_dir_get(_ALIVE))
      last_ok = now
    except Exception:  # pylint: disable=broad-except  (the coordinator is gone)
      if now - last_ok > timeout and not _JOINED.leaving.is_set():
        _lost(0, count, f"its coordination service at {_JOINED.coordinator} stopped answering")
      time.sleep(interval)
      continue
    for p, (value, since) in seen.items():
      current = values.get(f"{_ALIVE}{p}")
      if current == _DONE:
        continue
      if current != value:
        seen[p] = (current, now)
      elif now - since > timeout:
        _lost(p, count, f"no sign of life for {timeout:g}s (--heartbeat_timeout)")
    time.sleep(interval)


def _lost(process: int, count: int, why: str) -> None:
  _JOINED.lost.set()
  _die(f"process {process} of {count} was lost: {why}; it was killed, preempted, failed "
       f"(see its own output) or its host went down, so this process stops too; "
       f"{last_checkpoint(_JOINED.checkpoints)}; "
       f"run the same job again to resume from it", LOST_EXIT)


def last_checkpoint(directory: str | None) -> str:
  """'last good checkpoint: step N in DIR' from what is on disk (orbax renames a step
  directory into place only once it is complete)."""
  from jaxgan import checkpoint as checkpoint_lib  # pylint: disable=g-import-not-at-top
  if directory is None:
    return "this process was not training (no checkpoint directory)"
  steps = checkpoint_lib.finished_steps(directory)
  if not steps:
    return f"no checkpoint saved yet in {directory}"
  return f"last good checkpoint: step {steps[-1]} in {directory}"


def note_checkpoints(directory: str) -> None:
  """From now on a lost process's line names `directory`'s last checkpoint."""
  _JOINED.checkpoints = directory


@contextlib.contextmanager
def watching():
  """Training in a joined job: an error raised meanwhile (a collective failing because
  a peer died) first waits, up to twice the heartbeat timeout, for the watchdog to
  name the lost process and end this one; any other error is raised as it is."""
  try:
    yield
  except Exception as e:  # pylint: disable=broad-except
    if _JOINED.job is not None and not isinstance(e, errors.UserError):
      _JOINED.lost.wait(2 * _JOINED.heartbeat_timeout + 5)
    raise


class StopVote:
  """All processes stop at the same step: the largest signal number any of them
  received (0: none), agreed by an all-reduce one step late. On one process:
  the local request, at once."""

  def __init__(self):
    import jax  # pylint: disable=g-import-not-at-top
    self.processes = jax.process_count()
    self.steps_late = int(self.processes > 1)
    self._pending = None
    if self.processes > 1:
      import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
      from jax.sharding import Mesh, NamedSharding, PartitionSpec as P  # pylint: disable=g-import-not-at-top
      import numpy as np  # pylint: disable=g-import-not-at-top
      mesh = Mesh(np.asarray(jax.devices()), ("all",))
      self._sharding = NamedSharding(mesh, P("all"))
      self._local = jax.local_device_count()
      self._max = jax.jit(jnp.max, out_shardings=NamedSharding(mesh, P()))

  def __call__(self, signal_name: str | None) -> str | None:
    """This step's request (a signal's name or None) -> the signal all agree to stop
    for (None: train on). In a job, the answer is the vote of the step before."""
    if self.processes == 1:
      return signal_name
    import jax  # pylint: disable=g-import-not-at-top
    import numpy as np  # pylint: disable=g-import-not-at-top
    number = int(signal.Signals[signal_name]) if signal_name else 0
    vote = self._max(jax.make_array_from_process_local_data(
        self._sharding, np.full((self._local,), number, np.int32)))
    agreed, self._pending = self._pending, vote
    if agreed is None:
      return None
    number = int(agreed.addressable_data(0))
    return signal.Signals(number).name if number else None
