"""Command line: ``verify``, ``fetch``, ``convert`` and ``manifest``.

``python -m harness.datatools verify DIR``
    check DIR against its SHA256SUMS and run the table checks (exit 0 when all pass).
``python -m harness.datatools fetch --to DIR [--mirror URL ...]``
    download the pinned data release into DIR.
``python -m harness.datatools convert SOURCE ... --out DIR``
    build tables from an official benchmark release (``convert -h`` lists the sources).
``python -m harness.datatools manifest DIR``
    regenerate the committed release manifest from a data directory (maintainers).

Bad input ends with one ``error: ...`` line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.data import DataError


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m harness data",
                                 description="Benchmark data: verify, fetch, convert.")
    sub = ap.add_subparsers(dest="cmd", required=True)

    v = sub.add_parser("verify", help="check a data directory (checksums and tables)")
    v.add_argument("dir", help="the data directory")
    v.add_argument("--release", action="store_true",
                   help="also require every file to be the pinned release's version")

    f = sub.add_parser("fetch", help="download the pinned data release")
    f.add_argument("--to", required=True, metavar="DIR", help="destination directory")
    f.add_argument("--mirror", action="append", metavar="URL",
                   help="mirror URL or template ({asset}, {path}, {version}); repeat to try "
                        "several in order (default: $ESTBENCH_DATA_MIRRORS, else the "
                        "project's release)")
    f.add_argument("--manifest", default=None, help="another manifest file (default: pinned)")
    f.add_argument("--timeout", type=float, default=30.0, help="seconds per connection")
    f.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")

    m = sub.add_parser("manifest", help="regenerate the release manifest from a data directory")
    m.add_argument("dir")
    m.add_argument("--version", default=None, help="release version (default: current)")
    m.add_argument("--output", default=None, help="manifest path (default: the committed one)")
    m.add_argument("--stage", default=None, metavar="DIR",
                   help="also copy the files under their flat asset names into DIR, to upload")

    c = sub.add_parser("convert", help="build tables from an official benchmark release")
    cs = c.add_subparsers(dest="source", required=True)

    def src(name: str, help_: str) -> argparse.ArgumentParser:
        p = cs.add_parser(name, help=help_, description=help_)
        p.add_argument("--out", required=True, metavar="DIR",
                       help="data directory to write into (its SHA256SUMS is updated)")
        return p

    p = src("nb201", "NATS-Bench topology fast-mode archive -> both NAS-Bench-201 tables")
    p.add_argument("--archive", required=True, help="the NATS-tss-v1_0-3ffb9-simple directory")
    p.add_argument("--cost-rows-like", default=None, metavar="CSV",
                   help="write costs only for the cells of this table (the release's 9,445)")
    p = src("nb101", "nasbench_only108.tfrecord -> nb101_ss3_5k.csv")
    p.add_argument("--tfrecord", required=True)
    p.add_argument("--rows-like", default=None, metavar="CSV",
                   help="the cells to write and their order (the release's table)")
    p.add_argument("--run", default="0", choices=["0", "1", "2", "mean", "like"],
                   help="which of the 3 training repeats; 'like' matches --rows-like's values")
    p.add_argument("--crc", action=argparse.BooleanOptionalAction, default=None,
                   help="check each record's CRC-32C (default: only if the crc32c or "
                        "google-crc32c package is installed; pure Python reads ~3 MB/s)")
    p = src("nds-resnet", "NDS ResNet_rng1/2/3.json (or ResNet.json) -> resnet_5k.csv")
    p.add_argument("--json", required=True, nargs="+", help="one file per seed")
    p.add_argument("--rows-like", default=None, metavar="CSV")
    p = src("nds-resnexta", "NDS ResNeXt-A.json -> resnexta_5k.csv")
    p.add_argument("--json", required=True)
    p.add_argument("--rows-like", default=None, metavar="CSV",
                   help="the release's 5,000 cells (picked at random by the study's authors)")
    p = src("nb301", "DARTS genotypes + NAS-Bench-301 predictions -> nb301_surrogate_5896.csv")
    p.add_argument("--genotypes", required=True, help="YAML/JSON list or one genotype per line")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--predictions", help="surrogate accuracies, aligned with the genotypes")
    g.add_argument("--surrogate-dir", help="nasbench301 xgb_v1.0 model dir, to compute them")
    p = src("cifar10", "cifar-10-python.tar.gz -> cifar10_{train,test}_jpeg.npz")
    p.add_argument("--tarball", required=True)
    p.add_argument("--codec", default="jpeg", choices=["jpeg", "png"],
                   help="jpeg: as the release (lossy); png: the official pixels, lossless")
    p.add_argument("--split", action="append", choices=["train", "test"], default=None)
    return ap


def _convert(args: argparse.Namespace) -> int:
    # lazy: each subcommand loads only its own converters and their optional packages
    from harness.datatools.convert import cifar10, nb101, nb201, nb301, nds

    out = args.out
    if args.source == "nb201":
        paths = nb201.convert(args.archive, out, args.cost_rows_like)
    elif args.source == "nb101":
        paths = [nb101.convert(args.tfrecord, out, args.rows_like, args.run,
                               check_crc=args.crc)]
    elif args.source == "nds-resnet":
        paths = [nds.convert_resnet(args.json, out, args.rows_like)]
    elif args.source == "nds-resnexta":
        paths = [nds.convert_resnexta(args.json, out, args.rows_like)]
    elif args.source == "nb301":
        paths = [nb301.convert(args.genotypes, out, args.predictions, args.surrogate_dir)]
    else:
        paths = cifar10.convert(args.tarball, out, args.codec,
                                tuple(args.split or ("train", "test")))
    for p in paths:
        print(f"wrote {p}")
    return 0


def main(argv: list[str]) -> int:
    """Run one data command; returns the exit status (argparse exits 2 on bad usage)."""
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "verify":
            # lazy: each subcommand loads only its own converters and their optional packages
            from harness.datatools.verify import verify

            return verify(args.dir, against_release=args.release)
        if args.cmd == "fetch":
            # lazy: each subcommand loads only its own converters and their optional packages
            from harness.datatools.fetch import fetch
            from harness.datatools.manifest import load_release, mirrors_from

            release = load_release(args.manifest)
            return fetch(release, args.to, mirrors_from(args.mirror, release),
                         progress=args.progress, timeout=args.timeout)
        if args.cmd == "manifest":
            # lazy: each subcommand loads only its own converters and their optional packages
            from harness.datatools import manifest as mf

            version = args.version or (mf.load_release().version
                                       if mf.MANIFEST_PATH.is_file() else mf.DEFAULT_VERSION)
            data = mf.build_manifest(args.dir, version)
            target = Path(args.output) if args.output else mf.MANIFEST_PATH
            mf.write_manifest(data, target)
            print(f"wrote {target} ({len(data['files'])} files, release data-{version})")
            if args.stage:
                print(f"staged assets in {mf.stage_assets(args.dir, data, args.stage)}")
            return 0
        return _convert(args)
    except DataError as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)  # one line, always
        return 2
    except OSError as exc:  # unreadable input or unwritable output: say which file
        name = f" {exc.filename}" if exc.filename else ""
        print(f"error:{name}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
