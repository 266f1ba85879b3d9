"""Issue 12: user-given names (report names) cannot lead out of the lake."""

from __future__ import annotations

import datetime as dt

import pytest

from assets.lake import Lake
from assets.report.build import build_period_report, check_report_name

BAD = ["../../x", "../x", "/tmp/x", "a/../../x", "..", ".hidden", "a/b", "a\\..\\..\\x", ""]


@pytest.mark.parametrize("name", BAD)
def test_a_report_name_cannot_leave_the_lake(tmp_path, name):
    lake = Lake(str(tmp_path / "lake"))
    with pytest.raises(ValueError, match="report name"):
        build_period_report(lake, dt.date(2017, 4, 1), dt.date(2017, 4, 2), name=name)
    assert not (tmp_path / "x.html").exists() and not (tmp_path / "x").exists()


def test_ordinary_report_names_are_accepted():
    for name in ("period_report", "demo_2017", "q2-2017.v1"):
        check_report_name(name)


@pytest.mark.parametrize("rel", ["../x", "../../etc/x", "/x", "reports/../../x"])
def test_the_lake_refuses_paths_leading_out_of_it(tmp_path, rel):
    lake = Lake(str(tmp_path / "lake"))
    with pytest.raises(ValueError, match="inside the lake"):
        lake.write_bytes(rel, b"x")
    with pytest.raises(ValueError, match="inside the lake"):
        lake.read_bytes(rel)
    assert not (tmp_path / "x").exists()


def test_the_cli_reports_a_bad_name_as_an_error(tmp_path, capsys):
    from workflows.cli import main

    code = main(["report", "--lake", str(tmp_path / "lake"), "--name", "../../x"])
    assert code == 2
    assert "report name" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.html"))
