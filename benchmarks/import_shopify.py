"""How fast the real CLI imports a large Shopify export, and how much memory it needs.

Generates a ``--rows``-row Shopify "Orders → Export" CSV (default 100,000 rows; see
``make_shopify_export.py``), then runs the command a shop owner runs, in a subprocess with
``DATA_DIR`` in a temporary directory (a fresh SQLite database, migrated by the command):

    returns-desk import-orders FILE --shop lumen --quiet

and measures the wall time (process start to exit, interpreter start-up included), rows/s
and orders/s, and the peak resident memory of that process (``ru_maxrss`` from ``wait4``),
against the targets: over 5,000 rows/s, under 200 MB. Then it imports the same file again
(the idempotent re-import: every order is already there and unchanged) and measures that too.

    .venv/bin/python benchmarks/import_shopify.py                # 100,000 rows
    .venv/bin/python benchmarks/import_shopify.py --rows 10000   # quick run
    .venv/bin/python benchmarks/import_shopify.py --profile      # + cProfile of each run

``--profile`` runs the same command under ``python -m cProfile`` (slower; figures are not
comparable) and prints the functions that dominate.
"""

from __future__ import annotations

import argparse
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))  # this checkout, for bot.config

from make_shopify_export import write_shopify_export  # noqa: E402

from bot.config import without_settings  # noqa: E402

TARGET_ROWS_PER_S = 5_000
TARGET_PEAK_MB = 200
_REPORT = re.compile(
    r"Imported (\d+) orders with (\d+) lines .* in ([\d.]+) s: (\d+) new, (\d+) updated, "
    r"(\d+) unchanged"
)


@dataclass
class Run:
    code: int
    wall: float
    peak_mb: float
    out: str
    err: str


def command() -> list[str]:
    script = Path(sys.executable).parent / "returns-desk"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def clean_env(data_dir: Path) -> dict[str, str]:
    env = without_settings(os.environ)
    env["DATA_DIR"] = str(data_dir)
    return env


def run(args: list[str], *, cwd: Path, env: dict[str, str]) -> Run:
    """Run a command to completion; its own peak RSS comes from wait4 (not all children's)."""
    out_path, err_path = cwd / "stdout.txt", cwd / "stderr.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # already reaped
    return Run(
        code=process.returncode,
        wall=wall,
        peak_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        out=out_path.read_text(encoding="utf-8", errors="replace"),
        err=err_path.read_text(encoding="utf-8", errors="replace"),
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(label: str, result: Run, rows: int, orders: int) -> None:
    if result.code != 0:
        print(f"{label}: FAILED with exit code {result.code}\n{result.out}{result.err}")
        raise SystemExit(1)
    match = _REPORT.search(result.out)
    if match is None:
        raise SystemExit(f"{label}: unexpected output:\n{result.out}{result.err}")
    read, lines, inner, new, updated, unchanged = match.groups()
    if int(read) != orders or int(lines) != rows:
        raise SystemExit(
            f"{label}: imported {read} orders / {lines} lines, expected {orders} / {rows}"
        )
    rows_s = rows / result.wall
    print(f"{label}:")
    print(f"  {result.out.strip()}")
    print(
        f"  wall {result.wall:.2f} s (start-up included; the import itself: {float(inner):.1f} s)"
        f"  ->  {rows_s:,.0f} rows/s, {orders / result.wall:,.0f} orders/s"
    )
    print(f"  peak RSS {result.peak_mb:.1f} MB")
    print(f"  counts: {new} new, {updated} updated, {unchanged} unchanged")
    print(
        f"  target: over {TARGET_ROWS_PER_S:,} rows/s: {verdict(rows_s > TARGET_ROWS_PER_S)}"
        f"; under {TARGET_PEAK_MB} MB: {verdict(result.peak_mb < TARGET_PEAK_MB)}"
    )
    if result.err.strip():
        print("  stderr: " + result.err.strip().replace("\n", "\n          "))


def profile(label: str, export: Path, workdir: Path, data_dir: Path, top: int) -> None:
    """The same import under cProfile, in a subprocess; prints the dominating functions."""
    output = workdir / f"{label.replace(' ', '-')}.prof"
    args = [
        sys.executable,
        "-m",
        "cProfile",
        "-o",
        str(output),
        "-m",
        "bot",
        "import-orders",
        str(export),
        "--shop",
        "lumen",
        "--quiet",
    ]
    result = run(args, cwd=workdir, env=clean_env(data_dir))
    print(
        f"\ncProfile, {label} (wall {result.wall:.1f} s under the profiler, "
        f"exit {result.code}): {result.out.strip()}"
    )
    stats = pstats.Stats(str(output))
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="line-item rows to generate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run both imports under cProfile and print the top functions",
    )
    parser.add_argument("--top", type=int, default=25, help="functions to show with --profile")
    args = parser.parse_args()

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="import-shopify-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        export = workdir / "shopify-orders-export.csv"
        started = time.perf_counter()
        orders = write_shopify_export(export, args.rows, seed=args.seed)
        print(
            f"Generated {export.name}: {args.rows:,} rows, {orders:,} orders, "
            f"{export.stat().st_size / 2**20:.1f} MiB in {time.perf_counter() - started:.1f} s"
        )

        data_dir = workdir / "data"
        env = clean_env(data_dir)
        cli = [*command(), "import-orders", str(export), "--shop", "lumen", "--quiet"]
        print(f"Command: DATA_DIR={data_dir} {' '.join(cli)}\n")

        baseline = run([*command(), "config", "check"], cwd=workdir, env=env)
        print(
            f"Baseline (returns-desk config check): wall {baseline.wall:.2f} s, "
            f"peak RSS {baseline.peak_mb:.1f} MB\n"
        )

        report("First import (empty database)", run(cli, cwd=workdir, env=env), args.rows, orders)
        print()
        report(
            "Second import (same file: idempotent re-import)",
            run(cli, cwd=workdir, env=env),
            args.rows,
            orders,
        )

        database = data_dir / "returns-desk.sqlite3"
        size = sum(p.stat().st_size for p in data_dir.glob("returns-desk.sqlite3*"))
        print(f"\nDatabase: {database} {size / 2**20:.1f} MiB")

        if args.profile:
            profiled = workdir / "profiled-data"
            profile("first import", export, workdir, profiled, args.top)
            profile("second import", export, workdir, profiled, args.top)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
