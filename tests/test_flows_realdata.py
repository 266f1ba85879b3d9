"""Every file in ../shared/realdata/flows read by hermit with the outcome a user expects, and
hermit's flows compared with pmacct's own decoding of the same export packets."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest
from flows_oracle import match_share, pmacct_rows
from flows_support import FLOWS, needs_realdata, raw_file, require_program

from assets.flows.packets import PacketDecoder
from assets.flows.readers import read_flow_file
from assets.flows.transform import validate_flows

pytestmark = needs_realdata

ALL_FILES = sorted(p for p in FLOWS.rglob("*") if p.is_file()) if FLOWS.is_dir() else []
_DOCS = re.compile(
    r"(LICENSE|COPYING|README\.md|\.yml|\.conf|expected\.out|output-flow-.*\.json|netflow_mapping\.csv)$"
)


def expected(path: Path) -> str:
    """What a user expects from a file, judged from what the data's README says it is."""
    rel = path.relative_to(FLOWS).as_posix()
    if _DOCS.search(rel):
        return "not_flows"  # documentation and other tools' outputs beside the data
    if rel.endswith(".binetflow") or "/sflow_" in rel:
        return "unsupported"
    if re.search(r"_invalid0\d\.dat$", rel):
        return "corrupt"
    if rel.endswith(".dat") and "tpl" in rel and "data" not in rel:
        return "templates"  # a device's template packet (some carry data sets after them)
    if rel.endswith(".dat") and "_data" in rel and "tpl" not in rel:
        return "data_without_templates"  # read alone, its templates never arrived
    if "telegraf" in rel:
        return "any"  # packets of a sequence, read alone: flows or explained entries
    if "106-IPFIXv10-HUAWEI" in rel or "nprobe_dpi" in rel:
        # 3-byte reduced-size unsigned32 (Huawei), which the ipfix library rejects, and a
        # packet the netflow library cannot unpack (nProbe DPI): `corrupt_packet` entries
        return "any"
    return "flows"


def validate_file(path: Path) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Validated rows and quarantine of one file placed in the raw zone in the folder of its
    latest flow, with a lateness covering all its flows: each record lands exactly once."""
    data = path.read_bytes()
    rows, _ = read_flow_file(data, path.name)
    starts = pl.from_epoch(rows["start_us"].drop_nulls(), time_unit="us").dt.date()
    lo = starts.min() if starts.len() else dt.date(2020, 1, 1)
    hi = starts.max() if starts.len() else lo
    lateness = (hi - lo).days
    f = raw_file(data, path.name, hi)
    valid, quarantine, counts = [], [], {}
    day = lo
    while day <= hi:
        result = validate_flows([f], day, lateness)
        valid.append(result.valid)
        quarantine.append(result.quarantine)
        if day == hi:
            counts = result.counts
        day += dt.timedelta(days=1)
    return pl.concat(valid), pl.concat(quarantine), counts


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.relative_to(FLOWS).as_posix())
def test_every_file_is_read_with_the_expected_outcome(path: Path):
    if path.read_bytes()[:2] == b"\x0c\xa5":
        require_program("nfdump")
    valid, quarantine, counts = validate_file(path)
    # nothing lost: every raw record is a flow or a quarantine entry, once
    assert counts["raw_records"] == valid.height + quarantine.height
    assert quarantine["reason"].null_count() == 0 and quarantine["detail"].null_count() == 0
    if valid.height:
        assert valid["start"].null_count() == 0 and (valid["end"] >= valid["start"]).all()
        assert valid["src_addr"].null_count() == 0 and (valid["bytes"] >= 0).all()
    reasons = set(quarantine["reason"])
    kind = expected(path)
    if kind == "flows":
        problems = quarantine.filter(pl.col("reason") != "duplicate").height
        assert valid.height > 0 and valid.height >= problems, reasons
    elif kind in ("not_flows", "unsupported"):
        assert valid.height == 0 and reasons == {"unsupported_format"}
        assert quarantine.height == 1
    elif kind == "corrupt":
        assert valid.height == 0 and reasons == {"corrupt_packet"}
    elif kind == "templates":
        assert quarantine.height == 0  # templates are not records; its data sets decode
    elif kind == "data_without_templates":
        assert valid.height == 0 and reasons == {"template_missing"}


@pytest.mark.parametrize(
    ("name", "flows"),
    [("ipfixcol2/example_flows.ipfix", 3979), ("stratosphere/test1-malicious.nfdump", 4593)],
)
def test_whole_files_give_every_flow_their_readme_counts(name, flows):
    if name.endswith(".nfdump"):
        require_program("nfdump")
    valid, quarantine, _ = validate_file(FLOWS / name)
    assert (valid.height, quarantine.height) == (flows, 0)


def test_repeated_goflow_lines_are_duplicates_of_the_first():
    """flowlogs-pipeline's sample repeats each of its lines: one flow each, the repeats
    quarantined as duplicates (counted here independently, by distinct line text)."""
    path = FLOWS / "flowlogs-pipeline" / "log-lines.json"
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    valid, quarantine, _ = validate_file(path)
    assert valid.height == len(set(lines))
    assert quarantine.height == len(lines) - len(set(lines))
    assert set(quarantine["reason"]) == {"duplicate"}
    assert valid["sampling_rate"].null_count() == valid.height  # it says 0: not given
    assert not valid["counts_scaled"].any()


def _device(name: str) -> str:
    return re.split(r"_(?:opt)?tpl|_data|_tplopt", name.removesuffix(".dat"))[0]


def test_logstash_packets_decode_once_their_devices_templates_arrived():
    """Each device's template packets first, then its data packets, through one decoder (as a
    collector sees them): the data sets decode to flows instead of `template_missing`."""
    folder = FLOWS / "logstash-codec-netflow"
    devices: dict[str, list[Path]] = {}
    for p in sorted(folder.glob("*.dat")):
        devices.setdefault(_device(p.name), []).append(p)
    decoded, report = 0, []
    paired = {d: ps for d, ps in devices.items() if any("data" in p.name for p in ps)}
    paired = {d: ps for d, ps in paired.items() if any("tpl" in p.name for p in ps)}
    for device, paths in sorted(paired.items()):
        ordered = sorted(paths, key=lambda p: ("tpl" not in p.name, p.name))
        decoder = PacketDecoder()
        for number, p in enumerate(ordered, start=1):
            decoder.add(p.read_bytes(), number)
        frame = decoder.frame()
        flows = frame.filter(pl.col("problem").is_null()).height
        problems = frame.filter(pl.col("problem").is_not_null())["problem"].to_list()
        report.append(f"{device}: {flows} flows, problems {sorted(set(problems))}")
        decoded += flows > 0 and "template_missing" not in problems
    print("\n".join(report))
    assert decoded >= 0.8 * len(paired), report


PMACCT = sorted((FLOWS / "pmacct" / "tests").iterdir()) if FLOWS.is_dir() else []
# IPFIX with reduced-size encoding of unsigned32 in 3 bytes: the ipfix library rejects the
# message (`corrupt_packet` entries); nfcapd reads it (tests/test_flows_collector.py)
DIRECT_DECODER_GAPS = {"106-IPFIXv10-HUAWEI-vrf_name"}


@pytest.mark.parametrize("case", PMACCT, ids=lambda p: p.name)
def test_pmacct_oracle_flow_by_flow(case: Path):
    if case.name in DIRECT_DECODER_GAPS:
        pytest.skip("the ipfix library does not decode this exporter's reduced-size encoding")
    valid = []
    for i, pcap in enumerate(sorted(case.glob("traffic-*.pcap"))):
        v, q, counts = validate_file(pcap)
        assert counts["raw_records"] == v.height + q.height
        valid.append(v.with_columns(pl.lit(f"source{i}").alias("exporter")))
    share, total = match_share(pl.concat(valid), pmacct_rows(case))
    print(f"pmacct oracle {case.name}: {share:.1%} of {total} flows match (direct decoder)")
    assert share >= 0.85
