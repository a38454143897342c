"""The local stack in a process of its own, for tests that must measure it or kill it:
``python -m tests.stack_child``.

Prints ``{"url": ..., "pid": ...}`` once it serves, and exits when its stdin closes (so a test that
dies never leaves it behind). With ``CLOUDACT_TEST_HANG_AFTER_STEP=<step>`` the first run to reach
that step does the step's work, writes the step's name to ``<data dir>/hung-in`` and hangs there,
so the test can ``kill -9`` the stack at that exact point.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any


def _hang_after(step_name: str) -> None:
    from shared.application import current
    from shared.pipelines import registry

    marker = current().settings.data_dir / "hung-in"
    real_get = registry.get

    class Hanging:
        def __init__(self, processor: Any) -> None:
            self._processor = processor

        def run(self, step: Any, *args: Any, **kwargs: Any) -> Any:
            outcome = self._processor.run(step, *args, **kwargs)
            if step.name == step_name:
                marker.write_text(step_name)
                threading.Event().wait()  # until the test kills this process
            return outcome

        def __getattr__(self, name: str) -> Any:
            return getattr(self._processor, name)

    registry.get = lambda processor_id: Hanging(real_get(processor_id))  # type: ignore[assignment]


def main() -> None:
    from shared.local_stack.server import LocalStack

    step = os.environ.get("CLOUDACT_TEST_HANG_AFTER_STEP")
    if step:
        _hang_after(step)
    stack = LocalStack(port=0).start()
    print(json.dumps({"url": stack.url, "pid": os.getpid()}), flush=True)
    sys.stdin.read()
    stack.stop()


if __name__ == "__main__":
    main()
