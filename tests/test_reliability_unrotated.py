"""Issue 12: an un-rotated log that runs past midnight (`zeek -r` over a long capture): every
record goes to its own day's partition, exactly once."""

from __future__ import annotations

import datetime as dt

from zeek_factory import CONN_FIELDS, conn_record, epoch, raw_file, tsv_block

from assets.lake import Lake
from assets.validated.inputs import collect_raw_inputs
from assets.validated.transform import validate_partition

D0 = dt.date(2024, 4, 19)
D1, D2, D3 = (D0 + dt.timedelta(days=i) for i in (1, 2, 3))


def _capture() -> str:
    """A capture from D0 20:00 to D1 20:00 (hourly records), and one record on D2."""
    rows = [conn_record(epoch(D0, 20) + 3600 * h, f"C{h:03d}") for h in range(25)]
    rows.append(conn_record(epoch(D2, 1), "CD2"))
    return tsv_block(CONN_FIELDS, rows)


def _reconciles(c: dict) -> bool:
    return c["raw_records"] == (
        c["valid"]
        - c["from_later_folders"]
        - c["from_earlier_folders"]
        + c["quarantined"]
        + c["to_earlier_partitions"]
        + c["to_later_partitions"]
    )


def test_every_record_of_an_unrotated_capture_lands_once_in_its_own_day():
    files = [raw_file(_capture(), D0, "conn.log")]
    results = {d: validate_partition(files, "conn", d, 1, unrotated_days=2) for d in (D0, D1, D2)}
    valid = {d: r.valid["uid"].to_list() for d, r in results.items()}
    assert valid[D0] == [f"C{h:03d}" for h in range(4)]  # 20:00..23:00
    assert valid[D1] == [f"C{h:03d}" for h in range(4, 25)]  # midnight..20:00
    assert valid[D2] == ["CD2"]
    assert all(r.quarantine.height == 0 for r in results.values())
    assert sum(len(v) for v in valid.values()) == 26
    assert results[D0].counts["to_later_partitions"] == 22
    assert results[D1].counts["from_earlier_folders"] == 21
    assert all(_reconciles(r.counts) for r in results.values())


def test_records_beyond_the_unrotated_span_are_future_in_their_folder():
    files = [raw_file(_capture(), D0, "conn.log")]
    r0 = validate_partition(files, "conn", D0, 1, unrotated_days=1)
    assert r0.quarantine["reason"].to_list() == ["future"]
    assert "HERMIT_UNROTATED_DAYS" in r0.quarantine["detail"][0]
    r1 = validate_partition(files, "conn", D1, 1, unrotated_days=1)
    assert r1.valid.height == 21 and _reconciles(r0.counts) and _reconciles(r1.counts)


def test_rotated_files_keep_the_folder_window():
    files = [raw_file(_capture(), D0, "conn.20:00:00-21:00:00.log")]
    r0 = validate_partition(files, "conn", D0, 1, unrotated_days=2)
    assert r0.valid.height == 4 and set(r0.quarantine["reason"]) == {"future"}
    assert validate_partition(files, "conn", D1, 1, unrotated_days=2).valid.height == 0


def test_the_next_days_partition_collects_the_unrotated_file(tmp_path):
    folder = tmp_path / "raw" / "zeek" / "s1" / D0.isoformat()
    folder.mkdir(parents=True)
    (folder / "conn.log").write_text(_capture())
    (folder / "conn.00:00:00-01:00:00.log").write_text(_capture())  # rotated: not for D1
    lake = Lake(str(tmp_path))
    names = [f.source_file for f in collect_raw_inputs(lake, "conn", D1, 1, 1).files]
    assert names == [f"zeek/s1/{D0}/conn.log"]
    assert not collect_raw_inputs(lake, "conn", D3, 1, 1).files
