"""``aelab grade`` on a Dask cluster (aelab.grade.cluster): a LocalCluster of 2 workers grades a
batch with hostile submissions as a local batch does; a worker killed mid-submission costs a retry
on the other worker, and a submission whose workers die twice ends as "worker-died"; a second run
regrades only that one; workers that are not root are refused unless allowed."""

from __future__ import annotations

import csv
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="the cluster extra (dask, distributed) is not installed")

from test_grade import CORRECT_NORMALIZE, DEMO, FAKE_RESULTS, MAX_SCORE, PATCH_EVERYTHING, _answers  # noqa: E402

from aelab.grade import (  # noqa: E402
    Limits,
    cluster,  # noqa: E402
    grade,
)
from aelab.grade.plan import EVIDENCE_MIME  # noqa: E402
from aelab.grade.sandbox import DEFAULT_UIDS  # noqa: E402

#: A cell that sleeps, so that the test can kill the worker running it (the sleep ends the wait).
SLEEPER = CORRECT_NORMALIZE + "import time\ntime.sleep(4)\n"


class _Killer(threading.Thread):
    """Kill (SIGKILL) the worker process that runs a given submission, ``times`` times."""

    def __init__(self, client: distributed.Client, name: str, times: int) -> None:
        super().__init__(daemon=True)
        self.client, self.name, self.times, self.kills = client, name, times, 0

    def run(self) -> None:
        deadline = time.monotonic() + 240
        while self.kills < self.times and time.monotonic() < deadline:
            busy = self._running_on()
            if busy:
                time.sleep(1.0)  # let the sandbox start
                try:
                    pid = self.client.run(os.getpid, workers=busy[:1])[busy[0]]
                except Exception:  # noqa: BLE001 -- the worker left meanwhile: look again
                    continue
                os.kill(pid, signal.SIGKILL)
                self.kills += 1
                while busy[0] in self._running_on() and time.monotonic() < deadline:
                    time.sleep(0.2)  # until the scheduler has noticed
            time.sleep(0.2)

    def _running_on(self) -> list[str]:
        """The workers running the submission now."""
        processing = self.client.processing()
        return [worker for worker, keys in processing.items() if any(f"-{self.name}-" in str(key) for key in keys)]


@pytest.mark.slow
def test_two_workers_grade_hostile_submissions_and_survive_killed_workers(tmp_path: Path) -> None:
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    submissions.mkdir()
    notebooks = {
        "good": json.loads(DEMO.read_text()),
        "patch-checks": _answers(mean=PATCH_EVERYTHING, normalize="def normalize(x, eps=1e-6):\n    return x\n"),
        "fake-results": _answers(mean=FAKE_RESULTS.format(out=out, mime=EVIDENCE_MIME)),
    }
    for name, notebook in notebooks.items():
        (submissions / f"{name}.ipynb").write_text(json.dumps(notebook))
    limits = Limits(timeout=30, memory_mb=2048)
    with cluster.local_cluster(2) as local, distributed.Client(local) as client:
        grade(DEMO, [submissions], out, limits=limits, scheduler=local.scheduler_address, progress=False)
        # The killed workers: one such submission at a time, so that killing its worker can take no
        # other submission with it (which would make the test depend on how the scheduler packs them).
        folders = [submissions]
        for name, kills in (("survivor", 1), ("doomed", 2)):
            folder = tmp_path / name
            folder.mkdir()
            (folder / f"{name}.ipynb").write_text(json.dumps(_answers(normalize=SLEEPER)))
            folders.append(folder)
            killer = _Killer(client, name, kills)
            killer.start()
            results = grade(DEMO, [folder], out, limits=limits, scheduler=local.scheduler_address, progress=False)
            killer.join(timeout=10)
            assert killer.kills == kills
        by_name = {result.submission: result for result in results}
        expected = {"good": (3, "ok"), "patch-checks": (0, "ok"), "fake-results": (2, "ok"),
                    "survivor": (3, "ok"), "doomed": (0, "worker-died")}  # fmt: skip
        assert {name: (r.score, r.status) for name, r in by_name.items()} == expected
        assert "died twice" in by_name["doomed"].detail
        # Each death is a rerun on another worker, recorded (and shown in the integrity report).
        assert [by_name[name].attempts for name in ("good", "survivor", "doomed")] == [1, 2, 2]
        assert "| survivor | 2 |" in (out / "integrity.md").read_text()
        with (out / "grades.csv").open() as stream:
            rows = {row["submission"]: row for row in csv.DictReader(stream)}
        assert rows["doomed"]["status"] == "worker-died" and float(rows["good"]["max_score"]) == MAX_SCORE
        assert "hacked" not in (out / "grades.csv").read_text()
        assert "worker-died" in (out / "feedback" / "doomed.md").read_text()

        # Run again: only the submission whose workers died is graded (now in peace).
        again = {
            r.submission: r
            for r in grade(DEMO, folders, out, limits=limits, scheduler=local.scheduler_address, progress=False)
        }
        assert (again["doomed"].score, again["doomed"].status) == (3, "ok")
        regraded = {name for name, result in again.items() if result.seconds != by_name[name].seconds}
        assert regraded == {"doomed"}


def test_workers_without_root_are_refused_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    payload = {"steps": [{"label": "setup", "source": "pass"}]}
    refused = cluster.run_on_worker(payload, Limits(), [], DEFAULT_UIDS, allow_unprivileged=False)
    assert refused.events[-1]["status"] == "sandbox-error"
    assert "does not run as root" in refused.events[-1]["detail"]
    assert "--allow-unprivileged-workers" in refused.events[-1]["detail"]


def test_cluster_spec_is_checked() -> None:
    assert cluster.parse_local("local:3") == 3
    for spec in ("local:0", "local", "remote:2", "local:x"):
        with pytest.raises(ValueError, match="local:N"):
            cluster.parse_local(spec)
    with pytest.raises(ValueError, match="no Dask scheduler answers"):
        cluster.DaskSandboxes(Limits(), [], scheduler="tcp://127.0.0.1:9", timeout=2)
