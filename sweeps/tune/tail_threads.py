"""Idle cores at a sweep's tail, lent to the trials still running (resources.tail_threads).

While trials wait for a slot every core is taken and nothing changes. Once the last trial of a
stage has started, each trial that ends frees cores no trial will ask for again; the driver
grants them, as threads, to the running trials on that host, the one with the most planned
compute left first, by writing a thread count into each such trial's folder
(`trainers.threads`, which the trial follows, and keeps only if its steps get faster). A trial
that becomes pending again (a retry) takes the grants back.

The policy (`grant_threads`) is a pure function of what is pending and running and what each
host has; `TailThreads` keeps that state from Tune's events (`sweeps.tune.events.TailEvents`)
and writes the grants.

    tail = TailThreads(sweep_dir, total=36, allowance=None)
    tail.started(point); tail.reported(point, "10.0.0.2", tokens=4096); tail.ended(point)
    grant_threads(0, [RunningTrial("a", 1.0, 1, "h", True, 5e12)], {"h": 2.0})   # {"a": 2}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from contract.results import TRIALS_DIR
from sweeps.plan.resources import WorkerResources
from sweeps.plan.trials import TrialPoint
from trainers.threads import THREADS_FILE, write_grant

if TYPE_CHECKING:
    from sweeps.tune.runner import StageRun


@dataclass(frozen=True)
class RunningTrial:
    """What the policy knows of one running trial."""

    name: str
    """Its folder under trials/ (where its grant is written)."""
    cpus: float
    """CPUs Ray reserved for it (driver and workers)."""
    threads: int
    """Threads its reservation gives it."""
    host: str | None
    """IP of the host it runs on; None while unknown (before its first report)."""
    can_grow: bool
    """A single-worker CPU trial, which follows a grant (not a worker group, a GPU or RL trial)."""
    work_left: float
    """Planned training FLOPs it has still to do: spare threads go where most is left."""


def grant_threads(
    pending: int,
    running: Sequence[RunningTrial],
    host_cpus: Mapping[str, float],
    allowance: float | None = None,
) -> dict[str, int]:
    """Threads each running trial may use now, for the trials granted more than their own.

    Nothing while any trial is pending (every core is someone's in steady state). Otherwise a
    host's spare cores are its CPUs less what the running trials reserve there (a trial whose
    host is unknown counts on every host and grows nowhere, unless there is one host), given
    one at a time to the trial with the most work left per thread; `allowance` caps the CPUs
    the sweep uses in all (max_concurrent_trials slots), None for the whole cluster.
    """
    if pending > 0 or not running:
        return {}
    only = next(iter(host_cpus)) if len(host_cpus) == 1 else None
    where = {t.name: t.host if t.host in host_cpus else only for t in running}
    spare = {
        host: math.floor(
            cpus - sum(t.cpus for t in running if where[t.name] in (host, None)) + 1e-9
        )
        for host, cpus in host_cpus.items()
    }
    reserved = sum(t.cpus for t in running)
    budget = math.inf if allowance is None else math.floor(allowance - reserved + 1e-9)
    threads = {t.name: t.threads for t in running}
    growing = [t for t in running if t.can_grow and where[t.name] is not None]
    while budget > 0:
        room = [t for t in growing if spare[where[t.name]] > 0]
        if not room:
            break
        best = max(room, key=lambda t: (t.work_left / threads[t.name], t.name))
        threads[best.name] += 1
        spare[where[best.name]] -= 1
        budget -= 1
    return {t.name: threads[t.name] for t in growing if threads[t.name] > t.threads}


def sweep_allowance(limit: int | None, needs: Sequence[WorkerResources]) -> float | None:
    """The CPUs a stage may use: `limit` slots (max_concurrent_trials) of its largest trial's
    CPUs, or None (the whole cluster) when Tune admits trials as resources allow."""
    if limit is None or not needs:
        return None
    return limit * max(r.total().get("CPU", 0.0) for r in needs)


def cluster_hosts() -> dict[str, float]:
    """CPUs per host (IP) of the live Ray nodes: several nodes on one host share its cores."""
    import ray

    hosts: dict[str, float] = {}
    for node in ray.nodes():
        if node.get("Alive"):
            ip = node.get("NodeManagerAddress", "")
            hosts[ip] = hosts.get(ip, 0.0) + float(node.get("Resources", {}).get("CPU", 0.0))
    return hosts


def _running_trial(point: TrialPoint, rl: bool) -> RunningTrial:
    res = point.resources
    grows = not rl and not res.uses_worker_group and res.gpus_per_worker == 0
    return RunningTrial(
        name=point.dirname,
        cpus=res.total().get("CPU", 0.0),
        threads=max(1, int(res.cpus_per_worker)),
        host=None,
        can_grow=grows,
        work_left=float(point.flops),
    )


class TailThreads:
    """The grants of one stage's Tuner, kept from its trials' events and written to their
    folders (see the module). `enabled` False only clears grants an earlier run left."""

    def __init__(
        self,
        sweep_dir: Path,
        total: int,
        allowance: float | None,
        enabled: bool = True,
        rl: bool = False,
        hosts: Callable[[], dict[str, float]] = cluster_hosts,
    ) -> None:
        self.trials_dir = Path(sweep_dir) / TRIALS_DIR
        self.total, self.allowance, self.enabled, self.rl = total, allowance, enabled, rl
        self.hosts = hosts
        self.running: dict[str, RunningTrial] = {}
        self.finished: set[str] = set()
        self.granted: dict[str, int] = {}

    @classmethod
    def of_stage(cls, run: StageRun, limit: int | None) -> TailThreads:
        """The grants of one stage's run, within its `limit` slots (max_concurrent_trials)
        when it has one."""
        spec = run.plan.spec
        return cls(
            run.sweep_dir,
            total=run.work.remaining,
            allowance=sweep_allowance(limit, [t.resources for t in run.plan.trials]),
            enabled=spec.resources.tail_threads,
            rl=spec.is_rl,
        )

    @property
    def pending(self) -> int:
        """Trials of this Tuner not started yet (or waiting to be retried)."""
        return max(0, self.total - len(self.finished) - len(self.running))

    def clear(self) -> None:
        """Remove every grant file: a grant outlives no run (a killed driver's included)."""
        for path in self.trials_dir.glob(f"*/{THREADS_FILE}"):
            path.unlink(missing_ok=True)
        self.granted = {}

    def started(self, point: TrialPoint) -> None:
        self.running[point.dirname] = _running_trial(point, self.rl)
        self._publish()

    def reported(self, point: TrialPoint, host: object, tokens: object) -> None:
        """A trial's result: where it runs (the first one says) and how far it got."""
        trial = self.running.get(point.dirname)
        if trial is None:
            return
        done = tokens / point.tokens if isinstance(tokens, (int, float)) and point.tokens else 0
        update = {"work_left": float(point.flops) * max(0.0, 1.0 - done)}
        known = trial.host is None and isinstance(host, str) and trial.can_grow
        if known:
            update["host"] = host
        self.running[point.dirname] = replace(trial, **update)
        if known:
            self._publish()

    def ended(self, point: TrialPoint) -> None:
        """A trial completed, failed or was stopped: its cores are free."""
        self.running.pop(point.dirname, None)
        self.finished.add(point.dirname)
        self._publish()

    def recovered(self, point: TrialPoint) -> None:
        """A failed trial goes back to pending to be retried: it will want its cores."""
        self.running.pop(point.dirname, None)
        self._publish()

    def _publish(self) -> None:
        if not self.enabled:
            return
        running, pending = list(self.running.values()), self.pending
        hosts = self.hosts() if running and not pending else {}  # Ray asked only at the tail
        wanted = grant_threads(pending, running, hosts, self.allowance)
        for name in set(self.granted) - set(wanted):
            (self.trials_dir / name / THREADS_FILE).unlink(missing_ok=True)
        for name, threads in wanted.items():
            if self.granted.get(name) != threads:
                folder = self.trials_dir / name
                folder.mkdir(parents=True, exist_ok=True)
                write_grant(folder / THREADS_FILE, threads)
        self.granted = wanted
