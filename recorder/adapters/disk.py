"""Free space on the storage, as the recorder may use it (blocks available to non-root)."""

from __future__ import annotations

import os
from pathlib import Path


class StatvfsDisk:
    def free_bytes(self, path: Path) -> int:
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize
