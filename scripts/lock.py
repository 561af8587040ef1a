"""Re-pin requirements.lock and requirements-test.lock from pyproject.toml.

Installs the project into two throwaway venvs (runtime, runtime + test extra) and
writes what pip resolved, so the lock files always match the declared ranges.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def freeze(extra: str) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        subprocess.run([python, "-m", "pip", "install", "-q", f"{ROOT}{extra}"], check=True)
        out = subprocess.run(
            [python, "-m", "pip", "freeze", "--exclude", "partner-crm"],
            check=True, capture_output=True, text=True,
        ).stdout
    return sorted(line for line in out.splitlines() if line and not line.startswith("-e"))


def main() -> None:
    runtime = freeze("")
    test = [line for line in freeze("[test]") if line not in runtime]
    (ROOT / "requirements.lock").write_text(
        "# Exact versions installed by 'make run' (runtime). Regenerate with 'make lock'.\n"
        + "\n".join(runtime) + "\n"
    )
    (ROOT / "requirements-test.lock").write_text(
        "# Exact versions installed by 'make test': the runtime lock plus the test tools.\n"
        "# Regenerate with 'make lock'.\n-r requirements.lock\n" + "\n".join(test) + "\n"
    )


if __name__ == "__main__":
    main()
