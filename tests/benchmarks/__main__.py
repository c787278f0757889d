"""Run every benchmark module, or the ones named: `python -m tests.benchmarks engine draft`."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import tests.benchmarks as package


def main(argv: list[str]) -> int:
    names = sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules(package.__path__)
        if info.name.startswith("bench_")
    )
    chosen = [name for name in names if not argv or name in argv]
    if argv and len(chosen) != len(argv):
        unknown = sorted(set(argv) - set(names))
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(names)}")
        return 2
    for name in chosen:
        print(f"\n== {name} ==", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"tests.benchmarks.bench_{name}")
        module.main()
        print(f"({time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
