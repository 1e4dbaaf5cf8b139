"""Report and baseline files: written atomically, with the mode a new file would get."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_memguard.report.atomic import write_text_atomically


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_the_umask_mode_not_0600(tmp_path: Path, umask_027: None) -> None:
    target = tmp_path / "deep" / "report.json"
    write_text_atomically(target, "{}\n")
    assert target.read_text(encoding="utf-8") == "{}\n"
    assert mode(target) == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]  # no temporary left


def test_a_replaced_file_keeps_its_mode(tmp_path: Path, umask_027: None) -> None:
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o604)
    write_text_atomically(target, "new")
    assert (target.read_text(encoding="utf-8"), mode(target)) == ("new", 0o604)
