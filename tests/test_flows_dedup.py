"""Duplicate flow records: the same flow seen again in one partition (any file of the same
exporter) is quarantined as `duplicate` with its own file and raw text; the same flow from
another exporter is another observation; the valid rows are ordered by start."""

from __future__ import annotations

from flows_support import raw_file
from test_flows_readers import DAY, _goflow2, _lines, _validate


def test_repeats_across_files_of_one_exporter_are_quarantined_once_each():
    ns = 10**9
    a = _goflow2(src_port=50001)
    b = _goflow2(src_port=50002, time_flow_start_ns=_goflow2()["time_flow_start_ns"] - ns)
    c = _goflow2(src_port=50003)
    first = raw_file(_lines(a, b, c), "goflow-1.log", DAY, exporter="e1")
    again = raw_file(_lines(c, a, a), "goflow-2.log", DAY, exporter="e1")
    other = raw_file(_lines(a), "goflow.log", DAY, exporter="e2")
    result = _validate(first, again, other)
    valid, q = result.valid, result.quarantine
    assert valid.height == 4  # a, b, c from e1 and a from e2
    assert valid["start"].is_sorted()
    assert valid.filter(exporter="e2")["src_port"].to_list() == [50001]
    assert set(valid["format"]) == {"goflow2_json"}
    dups = q.filter(reason="duplicate").sort("line_number")
    assert dups["source_file"].to_list() == ["flows/e1/2024-03-05/goflow-2.log"] * 3
    assert dups["line_number"].to_list() == [1, 2, 3]
    assert dups["exporter"].to_list() == ["e1"] * 3
    assert '"src_port": 50003' in dups["raw"][0] and '"src_port": 50001' in dups["raw"][1]
    c = result.counts
    assert c["raw_records"] == c["valid"] + c["quarantined"] == 7
