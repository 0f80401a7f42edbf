"""``python -m mdlm_core.data fetch [NAME ...]``: download and verify the data sets (see registry.py)."""

from __future__ import annotations

import argparse
import sys

from .registry import DATA_ENV, DATASETS, DataFetchError, default_cache, fetch, with_mirror


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mdlm_core.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser("fetch", help="download, verify (sha256) and place data sets")
    get.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(DATASETS)} (default: all)")
    get.add_argument("--data-dir", help=f"where to put them (default: ${DATA_ENV}, else {default_cache()})")
    get.add_argument("--mirror", metavar="URL", help="fetch <URL>/<name>/<file> instead of the canonical locations")
    commands.add_parser("list", help="the registered data sets and their files")
    args = parser.parse_args(argv)
    if args.command == "list":
        for ds in DATASETS.values():
            print(f"{ds.name}: {', '.join(f.name for f in ds.files)}  [{ds.licence}]")
        return 0
    if unknown := [n for n in args.names if n not in DATASETS]:
        parser.error(f"unknown data set(s) {', '.join(unknown)}: choose from {', '.join(DATASETS)}")
    registry = with_mirror(args.mirror) if args.mirror else DATASETS
    try:
        root = fetch(args.names, args.data_dir, registry)
    except DataFetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"data in {root} (verified by sha256); loaders find it there"
          + ("" if args.data_dir is None else f" when {DATA_ENV}={root}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
