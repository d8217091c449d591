"""Catalog scale benchmark: the assistant at 224, 1,359 and 10,000 items, in one run.

Run ``python bench/catalog_scale.py`` (``--json PATH`` also writes the figures). A script, not a
test: it prints PASS/FAIL beside each target and exits 0 either way (timings depend on the machine).

The catalog grows the way real data does: the seed (224 items, 广东省) plus the same standard items
in other regions (county codes 5116NN …), each region's copy under its own department, some of them
also as a variant with a suffix (「…（终止）」, 「…（县级权限）」), as public lists carry them. 1,359
items is the seed plus 1,135 items (the size of one district's real list); 10,000 items is the seed
plus 42 other regions.

For each size:

* cost per message: ``Assistant.respond(text)`` (normalise, features, search, the dialog's decision)
  on every dev-set question, thread CPU time per message (a shared machine's descheduling does not
  count), median and mean; ``normalise``'s memo is cleared before each question so each costs what a
  never-seen text costs. Measured on the whole catalog and within one region (the seed's 440000, as
  a citizen there is answered: ``app.assistant.service.RegionalIndex``). Target: ≤ 1.5× the 224-item cost,
  and within a region no dearer than the whole catalog.
* cold start-up: a new Python process that imports the engine, reads the items (JSON) and builds
  the assistant (numba's compiled loop loaded from its cache, as every process after the first
  does). Target ≤ 3 s. Its peak RSS is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEV_SET = ROOT / "intents" / "data" / "assistant_dev.jsonl"
SIZES = (224, 1359, 10000)
SUFFIXES = ("（终止）", "（县级权限）", "（承诺件）")
COST_TARGET = 1.5
STARTUP_TARGET_S = 3.0

CHILD = """
import json, resource, sys, time
started = time.perf_counter()
from app.catalog import CATEGORIES
from intents.build import build_assistant
items = json.load(open(sys.argv[1], encoding="utf-8"))
assistant = build_assistant(items, categories=list(CATEGORIES))
assistant.respond("护照丢了怎么补办")
print(json.dumps({"startup_s": time.perf_counter() - started,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def seed_items() -> list[dict[str, Any]]:
    from app.catalog import SEED_DIR, catalog_files, validate_sources

    return validate_sources(catalog_files(SEED_DIR))


def grown(seed: Sequence[Mapping[str, Any]], size: int, rng: random.Random) -> list[dict[str, Any]]:
    """The seed plus copies in other regions (some with suffixed variants) up to ``size`` items."""
    items = [dict(i) for i in seed]
    region_n = 0
    while len(items) < size:
        region_n += 1
        region = f"5116{region_n:02d}" if region_n < 100 else f"51{region_n:04d}"
        county = f"第{region_n}区"
        for item in seed:
            if len(items) >= size:
                break
            code = region + item["code"][6:]
            copy = {**item, "code": code, "department": county + item["department"].replace("广东省", "")}
            items.append(copy)
            if rng.random() < 0.05 and len(items) < size:
                main, sub = code.rsplit("-", 1)
                items.append(
                    {**copy, "code": f"{main}-{int(sub) + 50:02d}", "name": item["name"] + rng.choice(SUFFIXES)}
                )
    return items[:size]


def questions() -> list[str]:
    return [json.loads(line)["text"] for line in DEV_SET.read_text("utf-8").splitlines() if line.strip()]


def message_costs(assistant: Any, texts: Sequence[str]) -> list[float]:
    """Thread CPU microseconds per ``respond``, each text never seen before by ``normalise``."""
    from intents.text import normalise

    for text in texts[:20]:  # warm the code paths, not the texts
        assistant.respond(text)
    costs = []
    for text in texts:
        normalise.cache_clear()
        started = time.thread_time_ns()
        assistant.respond(text)
        costs.append((time.thread_time_ns() - started) / 1000)
    return costs


def cold_start(items: list[dict[str, Any]]) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
        json.dump(items, fh, ensure_ascii=False)
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, fh.name], cwd=ROOT, capture_output=True, text=True,
                              timeout=600, check=True)  # fmt: skip
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        os.unlink(fh.name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    from app.assistant.service import RegionalIndex, regional_ids
    from app.catalog import CATEGORIES, seed_regions
    from intents.build import build_assistant

    rng = random.Random(20)
    seed = seed_items()
    texts = questions()
    load = os.getloadavg()
    print(f"catalog scale on {platform.node()} ({os.cpu_count()} CPUs), load average {load[0]:.1f} at start; "
          f"{len(texts)} dev-set questions per size")  # fmt: skip
    rows: list[dict[str, Any]] = []
    for size in SIZES:
        items = grown(seed, size, rng)
        build_started = time.perf_counter()
        assistant = build_assistant(items, categories=list(CATEGORIES))
        build_s = time.perf_counter() - build_started
        whole = message_costs(assistant, texts)
        regional = type(assistant).__new__(type(assistant))
        regional.__dict__.update(assistant.__dict__)
        regional.index = RegionalIndex(assistant.index, regional_ids(assistant.index, "440000", seed_regions()))  # type: ignore[assignment]
        within = message_costs(regional, texts)
        start = cold_start(items)
        rows.append({
            "items": len(items), "regions": len({i["code"][:6] for i in items}), "build_s": build_s,
            "whole_median_us": statistics.median(whole), "whole_mean_us": statistics.fmean(whole),
            "region_median_us": statistics.median(within), "region_mean_us": statistics.fmean(within),
            "postings": assistant.index.posting_count, **start,
        })  # fmt: skip
        print(f"  {size:>6} items built in {build_s:.2f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    base = rows[0]
    print(f"\n{'items':>7} {'regions':>7} {'postings':>9} {'whole µs (med/mean)':>21} {'×224':>6} "
          f"{'in 440000 µs':>14} {'×whole':>7} {'cold start s':>13} {'RSS MiB':>8}")  # fmt: skip
    for row in rows:
        ratio = row["whole_mean_us"] / base["whole_mean_us"]
        vs_whole = row["region_mean_us"] / row["whole_mean_us"]
        row.update(ratio=ratio, region_vs_whole=vs_whole)
        print(f"{row['items']:>7} {row['regions']:>7} {row['postings']:>9} "
              f"{row['whole_median_us']:>10.0f}/{row['whole_mean_us']:<10.0f} {ratio:>6.2f} "
              f"{row['region_mean_us']:>14.0f} {vs_whole:>7.2f} {row['startup_s']:>13.2f} "
              f"{row['rss_mib']:>8.0f}")  # fmt: skip
    print()
    for row in rows[1:]:
        verdict = "PASS" if row["ratio"] <= COST_TARGET else "FAIL"
        figure = f"{row['ratio']:.2f}× the 224-item cost (≤ {COST_TARGET}×)"
        print(f"{verdict} cost per message at {row['items']} items: {figure}")
    for row in rows:
        verdict = "PASS" if row["startup_s"] <= STARTUP_TARGET_S else "FAIL"
        print(f"{verdict} cold start-up at {row['items']} items: {row['startup_s']:.2f} s (≤ {STARTUP_TARGET_S} s)")
        verdict = "PASS" if row["region_vs_whole"] <= 1.0 else "FAIL"
        print(
            f"{verdict} within a region at {row['items']} items: {row['region_vs_whole']:.2f}× the whole catalog (≤ 1×)"
        )
    print(f"load average at the end {os.getloadavg()[0]:.1f} (the machine is shared: figures move with it)")
    if args.json:
        Path(args.json).write_text(json.dumps({"load_start": load, "rows": rows}, indent=2), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
