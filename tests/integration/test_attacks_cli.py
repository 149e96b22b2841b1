"""``campaignkit copy-store`` killed with SIGKILL mid-copy, as a real process.

Before the fix the half-copied destination stayed under its own name, and
copying again was refused with the advice to pass ``--merge``, which would
have appended the logs already copied (contacts, the access log) a second
time. Now the copy is made under a hidden name and renamed once complete.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Final

import campaignkit as ck
from campaignkit.adapters.copying import count_store
from campaignkit.cli.state import open_kit
from tests.cli_store import make_store

SCRIPT: Final = Path(sys.executable).parent / "campaignkit"
PROFILES: Final = 60_000


def big_store(path: Path) -> Path:
    """The command-line test store with enough profiles for a copy to take a while."""
    make_store(path)
    with open_kit(str(path)) as kit:
        kit.profiles.upsert_many(  # type: ignore[attr-defined]
            [ck.Profile(id=f"b{n}", attributes={"n": n}) for n in range(PROFILES)]
        )
    return path


def copying(folder: Path) -> list[Path]:
    return sorted(folder.glob(".copy.db.copying-*"))


def test_a_copy_killed_midway_leaves_no_destination_and_copying_again_works(
    tmp_path: Path,
) -> None:
    src = big_store(tmp_path / "src.db")
    dst = tmp_path / "copy.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGNKIT_")}
    command = [str(SCRIPT), "copy-store", str(src), str(dst)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        started = False
        for _ in range(3000):  # up to a minute: wait until the copy has begun writing
            try:
                process.wait(timeout=0.02)
                break
            except subprocess.TimeoutExpired:
                started = any(p.stat().st_size > 1 << 20 for p in copying(tmp_path))
                if started:
                    break
        assert started, "the copy finished or never started writing before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.communicate()
    assert not dst.exists()
    assert copying(tmp_path)  # the partial copy, under its hidden name
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    with open_kit(str(src)) as source, open_kit(str(dst)) as copy:
        assert count_store(copy) == count_store(source)
