"""ecoreid's store and photo-input cases of issue 17, run for real; the doc section of docs/bad_inputs.md.

``python tests/ecoreid/store_inputs_table.py`` rewrites the section "ecoreid store and photo
inputs" at the end of ``docs/bad_inputs.md`` with the messages of a real run (temporary folders
shown as ``<dir>``); ``tests/ecoreid/test_store_db.py`` and ``tests/ecoreid/test_photo_inputs.py``
test each case, and ``test_doc_lists_every_store_case`` checks the doc lists them all.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import unicodedata
from contextlib import redirect_stderr
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "bad_inputs.md"
TITLE = "## ecoreid store and photo inputs (issue 17, round 2)"


@dataclass
class StoreCase:
    file: str
    what: str
    damage: Callable[[Path], None]
    text: str  # a piece of the message


def _truncate(p: Path):
    b = p.read_bytes()
    p.write_bytes(b[: len(b) // 2])


def _json_edit(fn):
    def f(p: Path):
        m = json.loads(p.read_text())
        fn(m)
        p.write_text(json.dumps(m))
    return f


def _fewer_rows(p: Path):
    pd.read_parquet(p).iloc[:-2].to_parquet(p, index=False)


def _semicolons(p: Path):
    pd.read_csv(p, dtype=str, keep_default_na=False).to_csv(p, sep=";", index=False)


def _relabel(p: Path):
    df = pd.read_parquet(p)
    df.loc[0, "individual_id"] = "SOMEONE"
    df.to_parquet(p, index=False)


def _flip_byte(p: Path):
    b = bytearray(p.read_bytes())
    b[-10] ^= 0xFF
    p.write_bytes(bytes(b))


DAMAGE = [
    StoreCase("photos.parquet", "truncated (half the bytes)", _truncate, "not a readable Parquet file"),
    StoreCase("photos.parquet", "re-saved by pandas with one individual_id changed", _relabel,
              "changed outside ecoreid"),
    StoreCase("photos.parquet", "deleted", lambda p: p.unlink(), "file missing"),
    StoreCase("store.json", "thresholds written `\"0,5\"`", _json_edit(lambda m: m["thresholds"].update(fused="0,5")),
              "field 'thresholds.fused'"),
    StoreCase("store.json", "`scorers` deleted", _json_edit(lambda m: m.pop("scorers")), "field 'scorers'"),
    StoreCase("store.json", "cut short (invalid JSON)", lambda p: p.write_text('{"format": "ecoreid-store", '),
              "not valid JSON"),
    StoreCase("embeddings.parquet", "two rows fewer", _fewer_rows, "rows"),
    StoreCase("decisions.csv", "re-saved with semicolons", _semicolons, "separated by ';'"),
    StoreCase("keypoints.npz", "truncated", _truncate, "not a readable NPZ file"),
    StoreCase("vlad.npz", "not a zip", lambda p: p.write_bytes(b"PK\x03\x04 not a zip"), "not a readable NPZ file"),
    StoreCase("model.safetensors", "one byte changed", _flip_byte, "model.safetensors"),
    StoreCase("model.json", "model_name edited", _json_edit(lambda m: m.update(model_name="other")), "model.json"),
    StoreCase("manifest.json", "not JSON", lambda p: p.write_text("{not json"), "manifest.json"),
]


def _photo(p: Path):
    from PIL import Image

    p.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 12), "red").save(p)


def _relative_to_images(d: Path):
    from ecoreid.data.catalogue import photo_table

    for i in range(2):
        _photo(d / "photos" / f"a{i}.jpg")
    (d / "catalog.csv").write_text("image,individual_id\na0.jpg,G1\na1.jpg,G1\n")
    return photo_table(d / "photos", catalog=d / "catalog.csv")


def _one_missing(d: Path):
    from ecoreid.data.catalogue import photo_table

    _photo(d / "a.jpg")
    (d / "catalog.csv").write_text("image,individual_id\na.jpg,G1\nnope.jpg,G1\n")
    return photo_table(catalog=d / "catalog.csv")


def _link_out(d: Path):
    from ecoreid.data.catalogue import photo_table

    _photo(d / "outside" / "secret.jpg")
    _photo(d / "images" / "a.jpg")
    os.symlink(d / "outside" / "secret.jpg", d / "images" / "link.jpg")
    return photo_table(d / "images")


def _out_inside(d: Path):
    from ecoreid.data.catalogue import photo_table

    _photo(d / "images" / "a.jpg")
    _photo(d / "images" / "results" / "network.png")
    (d / "images" / "results" / "report.json").write_text(json.dumps({"provenance": {}}))
    t = photo_table(d / "images")
    assert list(t["image"]) == ["a.jpg"]
    return t


def _nfd(d: Path):
    from ecoreid.data.catalogue import photo_table

    _photo(d / unicodedata.normalize("NFD", "Zoë.jpg"))
    _photo(d / "b.jpg")
    (d / "catalog.csv").write_text(f"image,individual_id\n{unicodedata.normalize('NFC', 'Zoë.jpg')},G1\nb.jpg,G1\n",
                                   encoding="utf-8")
    t = photo_table(catalog=d / "catalog.csv")
    assert len(t) == 2
    return t


def _zeros(d: Path):
    from ecoreid.data.catalogue import photo_table

    _photo(d / "a.jpg")
    _photo(d / "b.jpg")
    (d / "catalog.csv").write_text("image,individual_id,location\na.jpg,0012,007\nb.jpg,0012,007\n")
    t = photo_table(catalog=d / "catalog.csv")
    assert t.loc[0, "individual_id"] == "0012" and t.loc[0, "location"] == "007"
    return t


def _validate_dup(d: Path):
    from ecoreid.cli import main

    _photo(d / "a.jpg")
    (d / "catalog.csv").write_text("image,individual_id\na.jpg,G1\n./a.jpg,G2\n")
    buf = io.StringIO()
    with redirect_stderr(buf):
        rc = main(["validate", "--catalog", str(d / "catalog.csv"), "--quiet"])
    if rc:
        raise SystemExit(buf.getvalue().strip().splitlines()[-1])


def _camtrap_none(d: Path):
    from ecoreid.data.camtrap import read_camtrap_dp

    (d / "media.csv").write_text("mediaID,filePath\nm1,media/x.jpg\n")
    (d / "observations.csv").write_text("observationID,mediaID,individualID\no1,m1,A\n")
    return read_camtrap_dp(d)


def _semicolon_catalogue(d: Path):
    from ecoreid.data.catalogue import photo_table

    _photo(d / "a.jpg")
    (d / "catalog.csv").write_text("image;individual_id\na.jpg;G1\n")
    return photo_table(catalog=d / "catalog.csv")


INPUTS = [
    ("catalogue", "image paths written relative to `--images`, not to the catalogue's folder", _relative_to_images),
    ("catalogue", "one row's photo missing", _one_missing),
    ("Camtrap DP", "no media file exists", _camtrap_none),
    ("catalogue", "one photo listed twice (`a.jpg`, `./a.jpg`): `validate` as `run`", _validate_dup),
    ("photos", "symlink in `--images` pointing outside it", _link_out),
    ("photos", "an earlier `--out` (with report.json) inside `--images`", _out_inside),
    ("photos", "file name stored decomposed (macOS NFD), catalogue typed composed (NFC)", _nfd),
    ("catalogue", "ids with leading zeros (`0012`, location `007`)", _zeros),
    ("catalogue", "re-saved by a spreadsheet with `;` between columns", _semicolon_catalogue),
]


def _run_input(fn, d: Path) -> tuple[str, str]:
    logs: list[str] = []

    class _H(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                logs.append(record.getMessage())

    h = _H()
    logging.getLogger().addHandler(h)
    try:
        fn(d)
        out = ("warning", " / ".join(logs)) if logs else ("accepted", "(no error)")
    except SystemExit as e:
        out = ("exit 2", str(e))
    except Exception as e:  # noqa: BLE001 - we record what the user would see
        out = (type(e).__name__, str(e))
    finally:
        logging.getLogger().removeHandler(h)
    return out


def _store_rows(tmp: Path) -> list[str]:
    from ecoreid.cli import main
    from ecoreid.datasets.synth import SynthConfig, generate_dataset
    from ecoreid.store import enroll
    from ecoreid_testutil import small_config

    ds = generate_dataset(tmp / "data", config=SynthConfig(n_individuals=4, photos_per_individual=3,
                                                          image_size=(96, 72), seed=2), progress=False)
    base = tmp / "base"
    enroll(base, catalog=ds.catalog_path, config=small_config(), progress=False, device="cpu")
    rows = []
    for c in DAMAGE:
        s = tmp / "store"
        shutil.rmtree(s, ignore_errors=True)
        shutil.copytree(base, s)
        c.damage(s / c.file)
        buf = io.StringIO()
        with redirect_stderr(buf):
            rc = main(["identify", "--store", str(s), "--images", str(ds.images_dir), "--out", str(tmp / "o"),
                       "--quiet", "--device", "cpu"])
            line = [ln for ln in buf.getvalue().splitlines() if ln.startswith("ERROR")][-1]
            fixed = main(["store", "repair", str(s), "--quiet"]) == 0 and \
                main(["store", "check", str(s), "--quiet"]) == 0
        rows.append(f"| {c.file} | {c.what} | {rc} | {_md(line, tmp)} | {'yes' if fixed else 'no'} |")
    return rows


def _md(text: str, tmp: Path) -> str:
    text = text.replace(os.path.realpath(tmp), "<dir>").replace(str(tmp), "<dir>")
    text = re.sub(r"process \d+ on \S+ \(user [^)]*\)", "process <pid> on <host>", text)
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"


def section() -> str:
    """The markdown section (runs every case; about a minute)."""
    logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        store_rows = _store_rows(tmp / "s")
        in_rows = []
        for i, (area, what, fn) in enumerate(INPUTS):
            d = tmp / f"in{i}"
            d.mkdir()
            outcome, msg = _run_input(fn, d)
            in_rows.append(f"| {area} | {what} | {outcome} | {_md(msg, d) if msg else ''} |")
    head = [
        TITLE,
        "",
        "A catalogue folder (`--store`) is a small database (`ecoreid.store_db`): `manifest.json` records the",
        "SHA-256, size and row count of every file; every command checks the files it uses against it",
        "before any work; every change is staged in `.txn/`, copied into `.backup/`, moved in, and",
        "committed by swapping `manifest.json` atomically; a lock (`.store.lock`) serialises",
        "`enroll`, `identify` and `confirm` (a second one waits, logging which process it waits for, and",
        "then works on what the first stored; `ECOREID_STORE_LOCK_TIMEOUT` seconds bound the wait, then",
        "it stops naming the holder). A change killed half-way is finished by the next command.",
        "`ecoreid store check STORE` lists every problem (exit 2 if any); `ecoreid store repair STORE`",
        "restores damaged files from `.backup/`, recomputes derived files (`individuals.csv`, `index/`,",
        "the keypoint index) and adds a manifest to a store made before manifests, or says what it",
        "cannot repair and changes nothing. Each damaged file below (a copy of a freshly enrolled",
        "store) was given to `ecoreid identify`; `enroll` and `store check` give the same line (exit 2,",
        "no traceback; `tests/ecoreid/test_store_db.py`). Two `enroll` processes at once on one store",
        "lose nothing and `decisions.csv` agrees with the tables (`test_two_enrolls_at_once_lose_nothing`).",
        "",
        "| Store file | Damage | Exit | Message | `store repair` fixes it |",
        "|---|---|---|---|---|",
        *store_rows,
        "",
        "Photo and catalogue inputs. Catalogue image paths are read one way only: relative to the folder",
        "that holds the catalogue file (Camtrap DP: the package folder); each missing-file warning shows",
        "the path tried; a catalogue none of whose rows exists stops the run. Photo discovery never",
        "follows a link out of `--images` and skips folders ecodml wrote; names match in Unicode NFC;",
        "ids and metadata stay text. `ecoreid validate --catalog C [--images I]` calls the function",
        "`ecoreid run` calls (`photo_table`), so it refuses what `run` refuses",
        "(`tests/ecoreid/test_photo_inputs.py`). `accepted` below means the input is handled as it should",
        "be (the earlier output skipped, the NFD name matched, `0012` kept), which each case asserts.",
        "",
        "| Area | Input | Outcome | Message |",
        "|---|---|---|---|",
        *in_rows,
    ]
    return "\n".join(head) + "\n"


def write_doc() -> None:
    """Replace (or append) this section in docs/bad_inputs.md."""
    text = DOC.read_text(encoding="utf-8")
    new = section()
    if TITLE in text:
        before, after = text.split(TITLE, 1)
        rest = after.split("\n## ", 1)
        text = before + new + ("\n## " + rest[1] if len(rest) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + new
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, str(Path(__file__).parent))
    write_doc()
