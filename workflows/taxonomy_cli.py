"""`hermit taxonomy ...`: the analyst's loop for growing the reference data.

hermit taxonomy unknown --start D --end D [--top N] [--csv FILE]
    the period's top unnamed registered domains by sessions and bytes, with their
    certificate and AS organisations, ready to add to a taxonomy file
hermit taxonomy check [FILE]
    validate a taxonomy file (default: the configured one) and list its overlaps
"""

from __future__ import annotations

import datetime as dt
import os

from rich.console import Console
from rich.table import Table

console = Console()


def add_parser(sub, date_type, lake_of) -> None:
    """Register `taxonomy` on the `hermit` parser (``sub``: its subparsers)."""
    tax = sub.add_parser("taxonomy", help="grow and check the service taxonomy")
    tsub = tax.add_subparsers(dest="taxonomy_command", required=True)
    unk = tsub.add_parser("unknown", help="top unnamed registered domains of a period")
    unk.add_argument("--start", type=date_type, required=True)
    unk.add_argument("--end", type=date_type, required=True)
    unk.add_argument("--top", type=int, default=50)
    unk.add_argument("--csv", help="also write the full table to this CSV file")
    unk.add_argument(
        "--include-inbound",
        action="store_true",
        help="also count inbound sessions (whose names are the monitored servers' own)",
    )
    unk.add_argument("--lake")
    unk.set_defaults(func=lambda args: cmd_unknown(args, lake_of(args)))
    chk = tsub.add_parser("check", help="validate a taxonomy file and report overlaps")
    chk.add_argument("path", nargs="?", help="taxonomy YAML (default: $HERMIT_TAXONOMY or bundled)")
    chk.add_argument("--all", action="store_true", help="list every overlap, not the first 40")
    chk.set_defaults(func=cmd_check)


def cmd_unknown(args, lake) -> int:
    from assets.categorised.unknown import unknown_report

    if args.end < args.start:
        raise ValueError(f"--end {args.end} is before --start {args.start}")
    days = [args.start + dt.timedelta(days=i) for i in range((args.end - args.start).days + 1)]
    sessions = lake.read_partitions("categorised", "sessions", days)
    if sessions.is_empty():
        raise FileNotFoundError(
            f"no categorised sessions for {args.start}..{args.end} in {lake.root}: "
            "materialise the days first"
        )
    for col in ("cert_org", "remote_org"):  # days categorised before these columns existed
        if col not in sessions.columns:
            sessions = sessions.with_columns(**{col: None})
    report = unknown_report(sessions, top=args.top, inbound=args.include_inbound)
    if args.csv:
        report.write_csv(args.csv)
    n = sessions.height
    unnamed = int(report["sessions"].sum() or 0)
    table = Table(title=f"unnamed registered domains {args.start}..{args.end} ({n:,} sessions)")
    for col in report.columns:
        table.add_column(col, justify="right" if report[col].dtype.is_numeric() else "left")
    for row in report.iter_rows():
        table.add_row(
            *("" if v is None else f"{v:,}" if isinstance(v, int) else str(v) for v in row)
        )
    console.print(table)
    console.print(f"these {report.height} domains hold {unnamed:,} sessions ({unnamed / n:.1%})")
    return 0


def cmd_check(args) -> int:
    from assets.reference.check import check_taxonomy

    path = args.path or os.environ.get("HERMIT_TAXONOMY") or None
    lists = None
    if os.environ.get("HERMIT_CATEGORY_LISTS"):
        from assets.reference.loaders import load_reference

        lists = load_reference(taxonomy_path=path).category_lists
    report = check_taxonomy(path, lists)
    console.print(
        f"[green]ok[/] {report.path or 'bundled taxonomy'}: version {report.version}, "
        f"sha256 {report.sha256[:16]}"
    )
    console.print(", ".join(f"{k} {v}" for k, v in report.counts.items()))
    shown = report.overlaps if args.all else report.overlaps[:40]
    if report.overlaps:
        table = Table(title=f"{len(report.overlaps)} overlaps (the more specific rule wins)")
        for col in ("kind", "rule", "inside"):
            table.add_column(col)
        for row in shown:
            table.add_row(*row)
        console.print(table)
        if len(shown) < len(report.overlaps):
            console.print(f"... {len(report.overlaps) - len(shown)} more (--all)")
    return 0
