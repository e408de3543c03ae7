"""cloud/package.py: the Lambda zip is reproducible and holds the runtime modules only."""

from __future__ import annotations

import hashlib
import zipfile

from cloud.package import RUNTIME_MODULES, build_lambda_zip, main


def test_the_same_sources_give_the_same_bytes(tmp_path):
    first = build_lambda_zip(tmp_path / "a.zip")
    second = build_lambda_zip(tmp_path / "b" / "b.zip")
    assert first == second == hashlib.sha256((tmp_path / "a.zip").read_bytes()).hexdigest()
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b" / "b.zip").read_bytes()


def test_the_zip_holds_the_package_and_nothing_else(tmp_path):
    build_lambda_zip(tmp_path / "cloud.zip")
    with zipfile.ZipFile(tmp_path / "cloud.zip") as archive:
        names = archive.namelist()
        assert names == sorted(f"cloud/{name}" for name in RUNTIME_MODULES)
        for info in archive.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o644
        assert archive.testzip() is None


def test_line_endings_do_not_change_the_zip(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in RUNTIME_MODULES:
        (source / name).write_bytes(b"x = 1\n")
    unix = build_lambda_zip(tmp_path / "unix.zip", source=source)
    for name in RUNTIME_MODULES:
        (source / name).write_bytes(b"x = 1\r\n")
    assert build_lambda_zip(tmp_path / "windows.zip", source=source) == unix


def test_the_command_line_prints_the_digest(tmp_path, capsys):
    assert main([str(tmp_path / "out.zip")]) == 0
    assert "sha256=" in capsys.readouterr().out
    assert main([]) == 2
