"""The worker: runs one submission's cells in its own kernel, inside the sandbox.

Started by the grader as ``python -m aelab.grade.worker`` (see :func:`aelab.grade.sandbox.run_worker`),
it reads its configuration (the cells to run, the sandbox, the limits) as JSON on stdin, enters the
sandbox, starts a kernel with nbclient and runs every cell, each even after another one failed. It
keeps no output: only each cell's exception (name and the start of its message) and the evidence
that the probes publish. It reports as JSON lines on a private copy of its stdout, which the
kernel does not inherit (the kernel's own stdout and stderr go to /dev/null):

- ``{"event": "step", "index": i, "error": [name, message] | null, "evidence": [[probe, text | null], ...]}``
- ``{"event": "end", "status": "ok" | "timeout" | "kernel-died" | "sandbox-error", "detail": "..."}``
"""

from __future__ import annotations

import faulthandler
import json
import math
import os
import sys
import time
from typing import IO, Any

from aelab.grade.plan import EVIDENCE_MIME
from aelab.grade.sandbox import Limits, SandboxError, at_process_limit, enter, sent_limits

#: The most of an exception's message kept, and the biggest evidence text of one probe (characters).
MAX_ERROR_CHARS = 1000
MAX_EVIDENCE_CHARS = 8 * 2**20
#: The most evidence kept from one cell: items, and characters in all (within the grader's line limit).
MAX_EVIDENCE_ITEMS = 64
MAX_STEP_EVIDENCE_CHARS = 12 * 2**20


class _Events:
    """The worker's report channel: one JSON object per line."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def emit(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, **fields}) + "\n")
        self.stream.flush()

    def end(self, status: str, detail: str) -> None:
        """The last event: how the run ended, and whether the sandbox was at its process limit."""
        self.emit("end", status=status, detail=detail, crowded=at_process_limit())


def _silence_standard_streams() -> None:
    """Point fds 0, 1 and 2 at /dev/null, so the kernel (which inherits them) cannot write events."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _run(steps: list[dict[str, Any]], limits: Limits, workdir: str, events: _Events) -> None:
    """Start a kernel and run ``steps`` in it, reporting each; stop at the time limit or a dead kernel."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionComplete

    class Client(NotebookClient):  # type: ignore[misc]
        """An nbclient that keeps no outputs: only the cell's exception and the probes' evidence."""

        error: list[str] | None = None
        evidence: list[list[Any]] = []
        evidence_chars = 0

        def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> None:
            kind, content = msg.get("msg_type"), msg.get("content") or {}
            if kind == "status" and content.get("execution_state") == "idle":
                raise CellExecutionComplete()
            if kind == "error":
                self.error = [str(content.get("ename"))[:200], str(content.get("evalue"))[:MAX_ERROR_CHARS]]
            elif kind == "display_data" and EVIDENCE_MIME in (content.get("data") or {}):
                text = content["data"][EVIDENCE_MIME]
                probe = (content.get("metadata") or {}).get("aelab-probe")
                fits = isinstance(text, str) and len(text) <= MAX_EVIDENCE_CHARS
                fits = fits and self.evidence_chars + len(text) <= MAX_STEP_EVIDENCE_CHARS
                self.evidence_chars += len(text) if fits else 0
                if len(self.evidence) < MAX_EVIDENCE_ITEMS:  # more than one per probe fails it anyway
                    self.evidence.append([probe, text if fits else None])
            return None

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(step["source"]) for step in steps])
    client = Client(
        notebook,
        kernel_name="python3",
        allow_errors=True,
        startup_timeout=int(limits.startup),
        shutdown_kernel="immediate",
        resources={"metadata": {"path": workdir}},
    )
    try:
        with client.setup_kernel():
            _run_cells(client, steps, limits, events)
    except RuntimeError as exc:  # the kernel did not start or died while starting
        events.end("kernel-died", detail=f"the kernel did not start: {str(exc)[:MAX_ERROR_CHARS]}")


def _interrupt(client: Any, wait: float) -> bool:
    """Interrupt the kernel's running cell and wait up to ``wait`` seconds for its reply, so that the
    interruption cannot reach the next cell; False when the cell did not stop."""
    from queue import Empty

    from nbclient.util import run_sync

    run_sync(client.km.interrupt_kernel)()
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = run_sync(client.kc.shell_channel.get_msg)(timeout=left)
        except Empty:
            return False
        if message.get("msg_type") == "execute_reply":
            return True
    return False


def _run_cells(client: Any, steps: list[dict[str, Any]], limits: Limits, events: _Events) -> None:
    """Run every cell in ``client``'s kernel, reporting each. A cell past ``limits.cell_timeout`` is
    interrupted (KeyboardInterrupt in the kernel) and reported as a ``CellTimeout`` error, and the
    next cell runs; past ``limits.timeout`` for all cells (or ``startup`` for the grader's set-up
    cell), or with a dead kernel, the run ends."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    deadline = time.monotonic() + limits.startup  # for the grader's set-up cell, then the student's
    for index, cell in enumerate(client.nb.cells):
        if index == 1:
            deadline = time.monotonic() + limits.timeout
        left = deadline - time.monotonic()
        per_cell = index > 0 and limits.cell_timeout < left
        client.error, client.evidence, client.evidence_chars = None, [], 0
        client.timeout = math.ceil(min(limits.cell_timeout, left) if index > 0 else left)
        try:
            if left <= 0:
                raise CellTimeoutError("no time left")
            client.execute_cell(cell, index, store_history=False)
        except CellTimeoutError:
            if not per_cell:
                events.end("timeout", f"stopped in {steps[index]['label']}")
                return
            if not _interrupt(client, limits.cell_timeout):
                events.end("timeout", f"{steps[index]['label']} ran past its limit and did not stop when interrupted")
                return
            client.error = ["CellTimeout", f"the cell ran past its limit of {limits.cell_timeout:g} s and was "
                            "interrupted; the next cells ran"]  # fmt: skip
        except DeadKernelError:
            events.end("kernel-died", detail=f"the kernel died in {steps[index]['label']}")
            return
        events.emit("step", index=index, error=client.error, evidence=client.evidence)
        if (client.error or [None])[0] == "BlockingIOError" or at_process_limit():
            # A fork bomb leaves a kernel whose later cells pass or fail by chance: stop here,
            # so that exactly what was checked before counts, on every machine.
            events.end("process-limit", detail=f"stopped after {steps[index]['label']}")
            return
    events.end("ok", detail="")


def main() -> int:
    """Read the configuration on stdin, enter the sandbox, run the cells; report on stdout.

    The worker's own errors (a Python traceback, a crash caught by faulthandler) still reach the
    grader, through a private copy of stderr that the kernel does not inherit: a worker that dies
    without a report leaves the grader its last words.
    """
    events = _Events(os.fdopen(os.dup(1), "w", encoding="utf-8"))  # os.dup: not inherited by the kernel
    errors = os.fdopen(os.dup(2), "w", encoding="utf-8", errors="replace")
    config = json.loads(sys.stdin.buffer.read())
    try:
        workdir = enter(config["sandbox"])
    except (SandboxError, OSError) as exc:
        events.end("sandbox-error", detail=str(exc))
        return 0
    _silence_standard_streams()
    sys.stderr = errors
    faulthandler.enable(errors)
    try:
        _run(config["steps"], sent_limits(config["sandbox"]["limits"]), str(workdir), events)
    except Exception as exc:  # a worker failure must reach the grader, whose stderr copy is gone
        events.end("sandbox-error", detail=f"the worker failed: {type(exc).__name__}: {exc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
