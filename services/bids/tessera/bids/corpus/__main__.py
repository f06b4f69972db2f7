"""``python -m tessera.bids.corpus OUT_DIR ...``: generate a corpus and print a one-line summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from tessera.bids.corpus import corpus_archive, generate_corpus
from tessera.bids.corpus.headers import VENDORS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tessera.bids.corpus", description=__doc__)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--subjects", type=int, default=2)
    ap.add_argument("--sessions", type=int, default=2)
    ap.add_argument("--vendor", choices=[*VENDORS, "mixed"], default="siemens")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", choices=["small", "medium"], default="small")
    ap.add_argument("--archive", choices=["zip", "tar.gz"], help="also pack OUT_DIR into OUT_DIR.<fmt>")
    args = ap.parse_args(argv)
    vendors = VENDORS if args.vendor == "mixed" else (args.vendor,)
    m = generate_corpus(args.out_dir, subjects=args.subjects, sessions=args.sessions, vendors=vendors,
                        seed=args.seed, size=args.size)
    n_files = sum(s.n_files for s in m.series)
    print(f"{len(m.sessions())} sessions, {len(m.series)} series, {n_files} DICOM files, "
          f"{len(m.event_logs)} event logs, "
          f"{m.bytes / 1e6:.1f} MB in {m.seconds:.1f} s -> {args.out_dir}/manifest.json")
    if args.archive:
        path = corpus_archive(args.out_dir, f"{args.out_dir}.{args.archive}", args.archive)
        print(f"archive: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
