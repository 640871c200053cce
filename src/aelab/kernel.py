"""The kit's Jupyter kernel: IPython's kernel with the kit's threading policy applied first.

``make lab`` installs its kernel spec into the virtualenv (``python -m aelab.kernel install
--prefix .venv``): name :data:`NAME`, shown as :data:`DISPLAY_NAME`, and the labs name it in their
metadata (:data:`KERNELSPEC`), so JupyterLab starts it for every lab. The spec runs ``python -m
aelab.kernel -f CONNECTION_FILE``, which sets the variables of :func:`aelab.threads.decide` (thread
count from the CPUs the kernel may use, OpenMP's waiting) before anything imports torch, then hands
over to ipykernel. A kernel spec's static ``env`` could not follow a changed CPU quota or affinity;
this reads them each time a kernel starts.

It reports :data:`LANGUAGE_INFO`: IPython's ``language_info`` without the Python version. JupyterLab
writes the running kernel's ``kernelspec`` and ``language_info`` into a notebook's metadata when it
opens it, and marks the notebook modified when they differ from the file's; the labs carry exactly
these two (:mod:`aelab.notebooks`), so a lab opens unmodified on every Python the kit supports.

Where the kit runs without ``make lab`` (a JupyterHub image that ``pip install``-ed it), ``python -m
aelab.kernel install`` installs the spec into that Python's environment (``--user``: the user's).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["DISPLAY_NAME", "KERNELSPEC", "LANGUAGE_INFO", "NAME", "install", "spec"]

NAME = "aelab"
DISPLAY_NAME = "Python 3 (aelab)"
#: The notebook metadata JupyterLab writes for this kernel (``kernelspec``).
KERNELSPEC = {"display_name": DISPLAY_NAME, "language": "python", "name": NAME}
#: What the kernel reports as ``language_info`` (ipykernel's, less ``version``), and the labs carry.
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}


def spec(python: str = sys.executable) -> dict[str, Any]:
    """The kernel spec (``kernel.json``'s content) that starts this kernel with ``python``: ipykernel's
    own (its protocol version, its debugger, the encryption it supports), another command and name."""
    from ipykernel.kernelspec import get_kernel_dict

    return {
        **get_kernel_dict(),
        "argv": [python, "-m", "aelab.kernel", "-f", "{connection_file}"],
        "display_name": DISPLAY_NAME,
        "language": "python",
    }


def install(prefix: str | None = None, user: bool = False) -> Path:
    """Write the kernel spec under ``prefix`` (``<prefix>/share/jupyter/kernels/aelab``; default:
    this interpreter's ``sys.prefix``), or in the user's Jupyter data folder; returns its folder."""
    if user:
        from jupyter_core.paths import jupyter_data_dir

        folder = Path(jupyter_data_dir()) / "kernels" / NAME
    else:
        folder = Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels" / NAME
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kernel.json").write_text(json.dumps(spec(), indent=1) + "\n", encoding="utf-8")
    return folder


def main(argv: list[str] | None = None) -> int:
    """``python -m aelab.kernel install [--prefix P | --user]``, or, as Jupyter calls it, ``python -m
    aelab.kernel -f CONNECTION_FILE`` (start the kernel)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["install"]:
        parser = argparse.ArgumentParser(
            prog="python -m aelab.kernel install",
            description="Install the kit's kernel spec (the threading policy applied first).",
        )
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--prefix", help="environment to install into (default: this Python's sys.prefix)")
        where.add_argument("--user", action="store_true", help="install into the user's Jupyter data folder")
        args = parser.parse_args(argv[1:])
        print(f"installed kernel spec {NAME!r} ({DISPLAY_NAME}) in {install(args.prefix, args.user)}")
        return 0
    from aelab import threads

    threads.apply()  # before the kernel, or anything it runs, imports torch
    from ipykernel.ipkernel import IPythonKernel
    from ipykernel.kernelapp import IPKernelApp

    class Kernel(IPythonKernel):  # type: ignore[misc]
        language_info = LANGUAGE_INFO

    IPKernelApp.launch_instance(argv=argv, kernel_class=Kernel)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
