"""File modes of the data directory (SPEC §11): the directory 0700, everything in it 0600.

``serve`` runs the process with umask 077 (:func:`private_umask`), so the database, its WAL files
and anything written later are created private; files left by an older version are tightened at
startup.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def private_umask() -> None:
    """Files this process creates from now on are readable by its user only."""
    os.umask(PRIVATE_UMASK)


def make_private(data_dir: Path) -> None:
    """Create ``data_dir`` (0700) and restrict what is already in it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    for root, dirs, files in os.walk(data_dir):
        for name in dirs:
            os.chmod(Path(root) / name, 0o700)
        for name in files:
            path = Path(root) / name
            if stat.S_ISREG(path.lstat().st_mode):
                os.chmod(path, 0o600)
