"""Worker processes never import the web stack (they start from service.worker)."""

from __future__ import annotations

import subprocess
import sys


def test_worker_imports_no_web_stack() -> None:
    code = (
        "import sys, service.worker.process, service.worker.kinds, service.__main__; "
        "print(sorted(m for m in ('fastapi', 'starlette', 'pydantic', 'uvicorn') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
