"""``harness.datatools``: verify, fetch (against a loopback HTTP server) and the converters.

Each converter test writes a small fixture in the benchmark's official format from real rows
of the data directory, converts it back and requires the very same CSV lines.
"""

from __future__ import annotations

import base64
import bz2
import csv
import hashlib
import io
import json
import pickle
import re
import shutil
import tarfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from harness import data
from harness.datatools import cli
from harness.datatools.convert import cifar10, nb101, nb201, nb301, nds
from harness.datatools.convert.common import update_sums
from harness.datatools.convert.tfrecord import encode_field, read_records, write_record
from harness.datatools.fetch import fetch
from harness.datatools.manifest import (
    MANIFEST_PATH,
    Release,
    ReleaseFile,
    build_manifest,
    file_url,
    load_release,
)
from harness.datatools.verify import verify


@pytest.fixture(scope="module")
def shared() -> Path:
    import os

    return data.resolve_data_dir(os.environ.get(data.ENV_VAR))


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _subset_dir(shared: Path, dst: Path, rels: list[str]) -> Path:
    """A data directory holding copies of some files, with its own SHA256SUMS."""
    for rel in rels:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared / rel, dst / rel)
        update_sums(dst, rel)
    return dst


# --------------------------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------------------------


def test_verify_real_directory_passes(shared, capsys):
    assert verify(shared) == 0
    out = capsys.readouterr().out.splitlines()
    assert "ok    nasbench201/nb201_accuracies.csv  (15625 rows)" in out
    assert "ok    cifar10/cifar10_test_jpeg.npz  (10000 images)" in out
    assert out[-1] == "8 of 8 files ok"


def test_verify_reports_corrupt_and_implausible_files(shared, tmp_path, capsys):
    d = _subset_dir(shared, tmp_path, ["nds/resnet_5k.csv", "nds/resnexta_5k.csv"])
    raw = bytearray((d / "nds/resnet_5k.csv").read_bytes())
    raw[200] ^= 1
    (d / "nds/resnet_5k.csv").write_bytes(bytes(raw))
    # a checksum-valid table whose values break the README's facts
    rows = _lines(d / "nds/resnexta_5k.csv")
    rows[1] = rows[1].rsplit(",", 1)[0] + ",190.5"
    (d / "nds/resnexta_5k.csv").write_text("\n".join(rows) + "\n")
    update_sums(d, "nds/resnexta_5k.csv")
    assert verify(d) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("FAIL  nds/resnet_5k.csv: SHA-256")
    assert out[1].startswith("FAIL  nds/resnexta_5k.csv: column 'test_accuracy'")
    assert out[-1] == "0 of 2 files ok, 2 failed"


def test_cli_bad_input_is_one_line_without_traceback(tmp_path, capsys):
    assert cli.main(["verify", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().out.strip().endswith("no such directory")
    assert cli.main(["convert", "nb101", "--tfrecord", str(tmp_path / "x.tfrecord"),
                     "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: NAS-Bench-101 file")
    (tmp_path / "bad.tfrecord").write_bytes(b"not a tfrecord at all")
    assert cli.main(["convert", "nb101", "--tfrecord", str(tmp_path / "bad.tfrecord"),
                     "--out", str(tmp_path)]) == 2
    assert "not a TFRecord" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# fetch, against a loopback server with Range support
# --------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Serves ``/<mirror>/<relpath>`` from ``server.routes[mirror]``, honouring ``Range``.

    ``server.drops[(mirror, relpath)] = n`` cuts the next response to that file after n bytes.
    """

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        mirror, _, rel = self.path.lstrip("/").partition("/")
        rel = urllib.parse.unquote(rel)
        root = self.server.routes.get(mirror)
        rng = self.headers.get("Range")
        self.server.log.append((mirror, rel, rng))
        if root is None or not (root / rel).is_file():
            self.send_error(404)
            return
        body = (root / rel).read_bytes()
        start = 0
        if rng:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = self.server.drops.pop((mirror, rel), None)
        self.wfile.write(body[start:] if cut is None else body[start:start + cut])
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.routes, srv.drops, srv.log = {}, {}, []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = lambda mirror: f"http://127.0.0.1:{srv.server_address[1]}/{mirror}/"
    yield srv
    srv.shutdown()
    srv.server_close()


def _release_of(d: Path) -> Release:
    m = build_manifest(d)
    return Release("v1", (), tuple(ReleaseFile(f["path"], f["size"], f["sha256"])
                                   for f in m["files"]))


SUBSET = ["nasbench201/nb201_accuracies.csv", "nds/resnet_5k.csv", "nds/resnexta_5k.csv"]


def test_fetch_resumes_an_interrupted_download(shared, tmp_path, server, capsys):
    src = _subset_dir(shared, tmp_path / "src", SUBSET)
    server.routes["m1"] = src
    rel = "nasbench201/nb201_accuracies.csv"
    server.drops[("m1", rel)] = 300_000  # the connection dies after 300 kB
    dest = tmp_path / "dest"
    # and another file's earlier run was interrupted, leaving its first 1000 bytes
    (dest / "nds").mkdir(parents=True)
    (dest / "nds/resnet_5k.csv.part").write_bytes((src / "nds/resnet_5k.csv").read_bytes()[:1000])
    assert fetch(_release_of(src), dest, [server.url("m1")], progress=False) == 0
    for r in SUBSET:
        assert (dest / r).read_bytes() == (src / r).read_bytes()
        assert not (dest / (r + ".part")).exists()
    ranges = [g for m, f, g in server.log if f == rel]
    assert ranges == [None, "bytes=300000-"]
    assert [g for m, f, g in server.log if f == "nds/resnet_5k.csv"] == ["bytes=1000-"]
    assert "4 of 4 files in place" in capsys.readouterr().out
    server.log.clear()  # a second run downloads nothing
    assert fetch(_release_of(src), dest, [server.url("m1")], progress=False) == 0
    assert server.log == []


def test_fetch_rejects_a_corrupt_mirror_and_uses_the_next(shared, tmp_path, server, capsys):
    good = _subset_dir(shared, tmp_path / "good", SUBSET)
    bad = tmp_path / "bad"
    shutil.copytree(good, bad)
    raw = bytearray((bad / "nds/resnet_5k.csv").read_bytes())
    raw[5000] ^= 0x20  # same size, one flipped bit
    (bad / "nds/resnet_5k.csv").write_bytes(bytes(raw))
    server.routes.update(m1=bad, m2=good)
    dest = tmp_path / "dest"
    assert fetch(_release_of(good), dest, [server.url("m1"), server.url("m2")],
                 progress=False) == 0
    assert (dest / "nds/resnet_5k.csv").read_bytes() == (good / "nds/resnet_5k.csv").read_bytes()
    line = [x for x in capsys.readouterr().out.splitlines() if "resnet_5k" in x][0]
    assert line.startswith("ok") and "SHA-256 mismatch" not in line and "/m2/" in line
    assert [m for m, f, _ in server.log if f == "nds/resnet_5k.csv"] == ["m1", "m2"]
    # a file that no mirror has ends as one FAILED line and exit status 1
    server.routes.clear()
    (dest / "nds/resnexta_5k.csv").unlink()
    assert fetch(_release_of(good), dest, [server.url("m1")], progress=False) == 1
    out = capsys.readouterr().out
    assert re.search(r"^FAILED  nds/resnexta_5k.csv  \(.*HTTP 404", out, re.M)


def test_fetch_of_the_whole_release_reproduces_sha256sums(shared, tmp_path, server, capsys):
    server.routes["data"] = shared
    release = load_release()  # the committed manifest
    dest = tmp_path / "fetched"
    assert fetch(release, dest, [server.url("data")], progress=False) == 0
    assert (dest / "SHA256SUMS").read_bytes() == (shared / "SHA256SUMS").read_bytes()
    assert verify(dest, against_release=True) == 0


def test_committed_manifest_is_the_data_directory(shared):
    assert load_release().files == _release_of(shared).files
    assert {f.path for f in load_release().files} >= {"SHA256SUMS", "README.md"}
    assert MANIFEST_PATH.name == "data_release.json"


def test_mirror_url_templates():
    f = ReleaseFile("nds/resnet_5k.csv", 1, "0" * 64)
    assert file_url("https://h/r/", f, "v1") == "https://h/r/nds/resnet_5k.csv"
    assert (file_url("https://g/releases/download/data-{version}/{asset}", f, "v1")
            == "https://g/releases/download/data-v1/nds__resnet_5k.csv")


def test_cli_fetch_uses_env_mirrors(shared, tmp_path, server, monkeypatch, capsys):
    src = _subset_dir(shared, tmp_path / "src", ["nds/resnet_5k.csv"])
    server.routes["m"] = src
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps(build_manifest(src)))
    monkeypatch.setenv("ESTBENCH_DATA_MIRRORS", server.url("nope") + " " + server.url("m"))
    assert cli.main(["fetch", "--to", str(tmp_path / "d"), "--manifest", str(manifest)]) == 0
    assert cli.main(["verify", str(tmp_path / "d")]) == 0


# --------------------------------------------------------------------------------------------
# converters
# --------------------------------------------------------------------------------------------


def _head(shared: Path, rel: str, n: int = 5) -> tuple[list[str], list[dict[str, str]]]:
    lines = _lines(shared / rel)
    return lines[:n + 1], _rows(shared / rel)[:n]


def _rc(accs: dict[str, float], epochs: int, params: float, flop: float, seed: int) -> dict:
    """A ResultsCount state as the NATS-Bench archive stores it."""
    last = epochs - 1
    return {"name": "fixture", "net_state_dict": None, "train_acc1es": {last: 50.0},
            "train_acc5es": None, "train_losses": {last: 1.0}, "train_times": None,
            "arch_config": {"name": "infer.tiny", "C": 16, "N": 5, "class_num": 10},
            "params": params, "flop": flop, "seed": seed, "epochs": epochs, "latency": None,
            "eval_names": sorted({k.split("@")[0] for k in accs}),
            "eval_acc1es": {f"{k}@{last}": v for k, v in accs.items()},
            "eval_times": {}, "eval_losses": {f"{k}@{last}": 0.5 for k in accs}}


def _nats_archive(d: Path, rows: list[dict[str, str]], costs: dict[int, dict[str, str]]) -> None:
    d.mkdir()
    with bz2.open(d / "meta.pickle.pbz2", "wb") as fh:
        pickle.dump({"meta_archs": [r["arch_str"] for r in rows]}, fh, protocol=4)
    for i, r in enumerate(rows):
        cost = costs.get(i, {"params_m": "0.5", "flops_m": "50.0"})
        p, fl = float(cost["params_m"]), float(cost["flops_m"])
        arch = {}
        for hp, epochs in (("200", 200), ("12", 12)):
            seeds = [777, 888, 999] if hp == "200" else [111]
            per_seed: dict[tuple[str, int], dict] = {}
            datasets: dict[str, list[int]] = {}
            for col, h, ds, setname in nb201.COLUMN_SOURCES:
                if h != hp:
                    continue
                datasets[ds] = seeds
                for k, s in enumerate(seeds):  # seeds straddle the mean: -0.02, 0, +0.02
                    delta = (k - (len(seeds) - 1) / 2) * 0.02
                    per_seed.setdefault((ds, s), {})[setname] = float(r[col]) + delta
            arch[hp] = {"arch_index": i, "arch_str": r["arch_str"], "clear_net_done": True,
                        "dataset_seed": datasets,
                        "all_results": {key: _rc(a, epochs, p, fl, key[1])
                                        for key, a in per_seed.items()}}
        with bz2.open(d / f"{i:06d}.pickle.pbz2", "wb") as fh:
            pickle.dump(arch, fh, protocol=4)


def test_convert_nb201_from_nats_fast_mode(shared, tmp_path):
    lines, rows = _head(shared, TABLE_NB201 := data.TABLES["nb201"].relpath)
    cost_rel = data.TABLES["nb201_cost_c10"].relpath
    cost_rows = {int(r["index"]): r for r in _rows(shared / cost_rel) if int(r["index"]) < 5}
    assert cost_rows, "the fixture needs some of the first cells in the cost table"
    ref = tmp_path / "cost_ref.csv"
    cost_lines = [_lines(shared / cost_rel)[0]] + [
        ln for ln in _lines(shared / cost_rel)[1:] if int(ln.split(",")[0]) in cost_rows]
    ref.write_text("\n".join(cost_lines) + "\n")
    archive = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    _nats_archive(archive, rows, cost_rows)
    out = tmp_path / "out"
    nb201.convert(archive, out, cost_rows_like=ref)
    assert _lines(out / TABLE_NB201) == lines
    assert _lines(out / cost_rel) == cost_lines


def test_nats_fixture_is_read_by_the_official_api(shared, tmp_path):
    """The fixture above really is the official format: ``nats_bench`` reads the same numbers."""
    nats_bench = pytest.importorskip("nats_bench")
    _, rows = _head(shared, data.TABLES["nb201"].relpath)
    cost_rel = data.TABLES["nb201_cost_c10"].relpath
    cost_rows = {int(r["index"]): r for r in _rows(shared / cost_rel) if int(r["index"]) < 5}
    archive = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    _nats_archive(archive, rows, cost_rows)
    api = nats_bench.create(str(archive), "tss", fast_mode=True, verbose=False)
    info = api.get_more_info(0, "cifar10", hp="200", is_random=False)
    assert round(info["test-accuracy"], 4) == float(rows[0]["cifar10_test_200ep"])
    info = api.get_more_info(0, "cifar10-valid", hp="12", is_random=False)
    assert round(info["valid-accuracy"], 4) == float(rows[0]["cifar10_valid_12ep"])
    i = min(cost_rows)
    cost = api.get_cost_info(i, "cifar10")
    assert round(cost["params"], 6) == float(cost_rows[i]["params_m"])


def _nb101_record(adj: list[list[int]], ops: list[str], params: int,
                  final: tuple[float, float, float, float]) -> bytes:
    """One record of nasbench_only108.tfrecord: JSON around a base64 ModelMetrics protobuf."""
    def evaluation(epoch: float, t: float, tr: float, va: float, te: float) -> bytes:
        return b"".join([encode_field(1, epoch), encode_field(2, t), encode_field(3, tr),
                         encode_field(4, va), encode_field(5, te),
                         encode_field(6, b"gs://bucket/model.ckpt-1")])
    train, valid, test, seconds = final
    metrics = b"".join([
        encode_field(1, evaluation(0.0, 0.0, 0.1, 0.1, 0.1)),
        encode_field(1, evaluation(54.0, seconds / 2, train * 0.9, valid * 0.9, test * 0.9)),
        encode_field(1, evaluation(108.0, seconds, train, valid, test)),
        encode_field(2, params), encode_field(3, seconds + 100.0)])
    flat = "".join(str(x) for row in adj for x in row)
    return json.dumps([nb101.graph_hash(adj, ops), 108, flat, ",".join(ops),
                       base64.b64encode(metrics).decode()]).encode()


def test_nb101_graph_hash_is_isomorphism_invariant():
    c3, c1, mp = nb101.AVAILABLE_OPS
    # input -> {A, B} -> output, with A and B's places swapped: the same cell
    adj = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    h = nb101.graph_hash(adj, ["input", c3, mp, "output"])
    assert nb101.graph_hash(adj, ["input", mp, c3, "output"]) == h
    assert nb101.graph_hash(adj, ["input", c3, c1, "output"]) != h
    # a vertex on no input-output path is pruned away before hashing
    dangling = [[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0],
                [0, 0, 0, 0, 0]]
    assert nb101.graph_hash(dangling, ["input", c3, mp, c1, "output"]) == h
    # the edge input -> output is part of the cell
    assert nb101.graph_hash([[0, 1, 1, 1], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
                            ["input", c3, mp, "output"]) != h
    # a cell whose input does not reach its output is bad data, said once
    with pytest.raises(data.DataError, match="input is not connected to the output"):
        nb101.graph_hash([[0, 0, 0], [0, 0, 1], [0, 0, 0]], ["input", c3, "output"])


def test_convert_nb101_from_tfrecord(shared, tmp_path):
    rel = data.TABLES["nb101"].relpath
    lines, rows = _head(shared, rel)
    decoys = _rows(shared / rel)[5:7]
    path = tmp_path / "nasbench_only108.tfrecord"
    with open(path, "wb") as fh:
        for k, r in enumerate(decoys + rows):  # reference cells are not first in the file
            adj, ops = json.loads(r["adjacency"]), json.loads(r["operations"])
            real = (float(r["train_accuracy"]) / 100, float(r["validation_accuracy"]) / 100,
                    float(r["test_accuracy"]) / 100, float(r["training_time_s"]))
            other = (real[0] * 0.99, real[1] * 0.99, real[2] * 0.98, real[3] + 7.0)
            repeats = [other, other, other]
            repeats[k % 3] = real  # the "sampled" repeat differs from cell to cell
            for rep in repeats:
                write_record(fh, _nb101_record(adj, ops, int(r["trainable_parameters"]), rep))
    with open(path, "rb") as fh:
        assert len(list(read_records(fh, check_crc=True))) == 21
    damaged = bytearray(path.read_bytes())
    damaged[40] ^= 1  # inside the first payload
    with pytest.raises(data.DataError, match="CRC-32C"):
        list(read_records(io.BytesIO(bytes(damaged)), check_crc=True))
    ref = tmp_path / "ref.csv"
    ref.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    nb101.convert(path, out, rows_like=ref, run="like")
    assert _lines(out / rel) == lines
    nb101.convert(path, out)  # every cell, repeat 0, file order
    got = _rows(out / rel)
    assert len(got) == 7 and got[3]["adjacency"] == rows[1]["adjacency"]
    assert got[3]["train_accuracy"] == rows[1]["train_accuracy"]  # cell 3: repeat 0 is real
    assert got[2]["train_accuracy"] != rows[0]["train_accuracy"]  # cell 2: repeat 2 is
    with pytest.raises(data.DataError, match="no repeat of this cell"):
        bad = tmp_path / "bad.csv"
        bad.write_text("\n".join([lines[0], lines[1].rsplit(",", 1)[0] + ",1.5"]) + "\n")
        nb101.convert(path, out, rows_like=bad, run="like")


def _nds_model(r: dict[str, str], keys, min_test_top1: float) -> dict:
    net = {src: [1, *json.loads(r[col])] for col, src in keys}  # element 0: the stem stage
    net.update({"ss": [1, 1, 2, 2], "stem_type": "res_stem_cifar", "nc": 10})
    return {"net": net, "params": int(r["ref_params"]), "flops": int(r["ref_flops"]),
            "min_test_top1": min_test_top1, "test_ep_top1": [50.0, min_test_top1],
            "optim": {"lr": 0.1}}


def test_convert_nds_resnet_three_seeds(shared, tmp_path):
    rel = data.TABLES["nds_resnet"].relpath
    lines, rows = _head(shared, rel)
    files = []
    for k, delta in enumerate((-0.11, 0.0, 0.11)):
        f = tmp_path / f"ResNet_rng{k + 1}.json"
        f.write_text(json.dumps([_nds_model(r, nds.RESNET_KEYS,
                                            100 - float(r["test_accuracy"]) + delta)
                                 for r in (rows if k == 0 else rows[::-1])]))
        files.append(f)
    out = tmp_path / "out"
    nds.convert_resnet(files, out)
    assert _lines(out / rel) == lines


def test_convert_nds_resnexta_with_the_release_rows(shared, tmp_path):
    rel = data.TABLES["nds_resnexta"].relpath
    lines, rows = _head(shared, rel)
    decoys = _rows(shared / rel)[5:8]
    models = [_nds_model(r, nds.RESNEXTA_KEYS, round(100 - float(r["test_accuracy"]), 2))
              for r in decoys + rows[::-1]]
    (tmp_path / "ResNeXt-A.json").write_text(json.dumps(models))
    ref = tmp_path / "ref.csv"
    ref.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert cli.main(["convert", "nds-resnexta", "--json", str(tmp_path / "ResNeXt-A.json"),
                     "--rows-like", str(ref), "--out", str(out)]) == 0
    assert _lines(out / rel) == lines
    assert cli.main(["verify", str(out)]) == 1  # 5 rows, not 5,000: the table check says so


def test_convert_nb301_genotypes(shared, tmp_path):
    rel = data.TABLES["nb301"].relpath
    lines, rows = _head(shared, rel)
    texts = []
    for k, r in enumerate(rows):
        normal, reduce = json.loads(r["normal"]), json.loads(r["reduce"])
        if k % 2:  # DARTS / NAS-Bench-301 Genotype form
            n2, r2 = [(op, s) for op, s, _ in normal], [(op, s) for op, s, _ in reduce]
            texts.append(f"Genotype(normal={n2}, normal_concat=[2, 3, 4, 5], reduce={r2}, "
                         "reduce_concat=[2, 3, 4, 5])")
        else:  # the benchmark study's genotype strings
            n3, r3 = [tuple(e) for e in normal], [tuple(e) for e in reduce]
            texts.append(f"CNNGenotype(normal_0={n3}, reduce_1={r3}, "
                         "normal_0_concat=[2, 3, 4, 5], reduce_1_concat=[2, 3, 4, 5])")
    (tmp_path / "archs.json").write_text(json.dumps(texts))
    (tmp_path / "pred.txt").write_text("\n".join(r["surrogate_val_accuracy"] for r in rows))
    out = tmp_path / "out"
    nb301.convert(tmp_path / "archs.json", out, predictions=tmp_path / "pred.txt")
    assert _lines(out / rel) == lines


def _cifar_tarball(path: Path, shared: Path) -> dict[str, np.ndarray]:
    """An official-format tarball whose pixels are some of the release's test images."""
    rel = data.CIFAR10_FILES["test"]
    ds = data.Cifar10("test", shared)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(ds))[:70]  # mixed classes, in a random (official-like) order
    images, labels = ds.decode(idx), ds.labels[idx]
    with np.load(shared / rel) as z:
        classes = [str(c) for c in z["classes"]]

    def batch(sl: slice) -> bytes:
        chw = images[sl].transpose(0, 3, 1, 2).reshape(-1, 3072)
        return pickle.dumps({b"batch_label": b"fixture", b"labels": [int(x) for x in labels[sl]],
                             b"data": np.ascontiguousarray(chw),
                             b"filenames": [b"x.png"] * len(chw)}, protocol=2)

    members = {f"data_batch_{i}": batch(slice(10 * (i - 1), 10 * i)) for i in range(1, 6)}
    members["test_batch"] = batch(slice(50, 70))
    members["batches.meta"] = pickle.dumps({b"label_names": [c.encode() for c in classes],
                                            b"num_vis": 3072}, protocol=2)
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return {"images": images[50:70], "labels": labels[50:70], "classes": np.array(classes)}


def test_convert_cifar10_tarball(shared, tmp_path):
    tarball = tmp_path / "cifar-10-python.tar.gz"
    want = _cifar_tarball(tarball, shared)
    rel = data.CIFAR10_FILES["test"]
    order = np.argsort(want["labels"], kind="stable")
    for codec in ("png", "jpeg"):
        out = tmp_path / codec
        cifar10.convert(tarball, out, codec=codec)
        with np.load(out / rel) as z, np.load(shared / rel) as ref:
            assert list(z.files) == list(ref.files)
            for k in z.files:
                assert z[k].dtype.kind == ref[k].dtype.kind, k
            assert np.array_equal(z["classes"], ref["classes"])
            assert np.array_equal(z["labels"], want["labels"][order])
            names = [str(n) for n in z["names"]]
        ext = "jpg" if codec == "jpeg" else "png"
        first = int(want["labels"][order][0])
        assert names[0] == f"{want['classes'][first]}/0000.{ext}"
        got = data.Cifar10("test", out).decode(np.arange(20))  # the harness's own loader
        diff = np.abs(got.astype(int) - want["images"][order].astype(int)).mean()
        if codec == "png":
            assert diff == 0  # lossless: the official pixels exactly
        else:
            assert 0 < diff < 4  # one more JPEG generation: close, not identical
        assert len(np.load(out / data.CIFAR10_FILES["train"])["labels"]) == 50
        digest = hashlib.sha256((out / rel).read_bytes()).hexdigest()
        assert digest in (out / "SHA256SUMS").read_text()
