"""The launcher of distributed jobs: `python -m aiplayground.training.launch TORCHRUN_ARGS`.

torchrun itself would outlive a killed worker; this wrapper runs it in-process with the
runner's watchdog, so the launcher and every rank die with the worker.
"""

from __future__ import annotations

import os
import sys

from aiplayground.training.runner import PARENT_ENV, die_with_parent


def main(argv: list[str] | None = None) -> None:
    """Run torchrun with these arguments, tied to this process's parent."""
    die_with_parent()
    # The ranks are this process's children: they watch it, not the worker.
    os.environ[PARENT_ENV] = str(os.getpid())
    from torch.distributed.run import main as torchrun

    torchrun(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
