"""The test scripts' case runner: `@case` runs a function at once and records whether it
raised; `finish()` prints each failure and 'N passed, N failed', and exits non-zero on any
failure. Standard-library Python, for the scripts ctest runs with /usr/bin/python3."""
import sys

results = []


def case(fn):
    try:
        fn()
        results.append((fn.__name__, None))
    except Exception as e:  # noqa: BLE001
        results.append((fn.__name__, e))
    return fn


def finish():
    failed = [(n, e) for n, e in results if e is not None]
    for n, e in failed:
        print(f"FAILED {n}: {type(e).__name__}: {e}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)
