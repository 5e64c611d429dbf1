"""The tests' loopback servers list the files they hold while the code under test deletes them:
a folder that vanishes mid-listing is simply gone, never an error (CI once failed on exactly
that, while a withdrawal emptied the bucket)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from tests.rclone_server import files_under


def test_a_folder_deleted_while_it_is_listed_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    for i in range(400):
        leaf = root / f"d{i:03}" / "a" / "b"
        leaf.mkdir(parents=True)
        (leaf / "f").write_bytes(b"x")
    assert len(files_under(root)) == 400

    done = threading.Event()

    def delete() -> None:
        for folder in sorted(root.iterdir()):
            shutil.rmtree(folder)
        done.set()

    deleter = threading.Thread(target=delete)
    deleter.start()
    listings = 0
    try:
        while not done.is_set():
            files_under(root)
            listings += 1
    finally:
        deleter.join()
    assert files_under(root) == []
    assert listings >= 1


def test_a_missing_root_holds_nothing(tmp_path: Path) -> None:
    assert files_under(tmp_path / "never-made") == []
