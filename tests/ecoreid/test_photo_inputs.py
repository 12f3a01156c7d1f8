"""Photo and catalogue inputs (issue 17): one documented path rule, links, output folders, Unicode, text ids.

- Catalogue image paths are relative to the folder that holds the catalogue file; a missing photo's
  warning shows the path tried; a catalogue none of whose rows exists is refused (saying when the
  paths exist relative to ``--images`` instead).
- Symbolic links never lead photo discovery out of ``--images``; folders ecodml wrote (a run's
  report.json, a store) and the run's own ``--out`` are never read as photos.
- File names match in Unicode NFC (macOS stores NFD); metadata stays text (``0012``).
- ``ecoreid validate`` refuses what ``ecoreid run`` refuses (it calls the same function).
"""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import pytest
from PIL import Image

from dmlcore.errors import InputError, Problems
from ecoreid.cli import main
from ecoreid.data.catalogue import AllMissingError, photo_table, read_catalog
from ecoreid.data.camtrap import read_camtrap_dp
from ecoreid.data.images import list_images


def _photo(p: Path, color="red") -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 12), color).save(p)
    return p


@pytest.fixture
def layout(tmp_path):
    """project/catalog.csv written relative to project/photos/ (the mistake of issue 17)."""
    proj = tmp_path / "project"
    for i in range(3):
        _photo(proj / "photos" / f"a{i}.jpg")
    cat = proj / "catalog.csv"
    cat.write_text("image,individual_id\na0.jpg,G1\na1.jpg,G1\na2.jpg,G2\n")
    return proj, cat


def test_paths_relative_to_images_instead_of_catalogue_are_refused(layout, capsys):
    proj, cat = layout
    with pytest.raises(AllMissingError) as e:
        photo_table(proj / "photos", catalog=cat)
    msg = str(e.value)
    assert str(proj / "a0.jpg") in msg  # the path tried
    assert "relative to the catalogue's folder" in msg and "3 of them exist relative to --images" in msg
    rc = main(["validate", "--catalog", str(cat), "--images", str(proj / "photos"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "none of the 3 catalogue rows" in err and "Traceback" not in err


def test_missing_file_warning_shows_the_path_tried(layout):
    proj, cat = layout
    cat.write_text("image,individual_id\nphotos/a0.jpg,G1\nphotos/a1.jpg,G1\nphotos/nope.jpg,G2\n")
    problems = Problems()
    table = read_catalog(cat, problems=problems)
    assert len(table) == 2 and problems.count("missing file") == 1
    assert f"tried {proj / 'photos' / 'nope.jpg'}" in str(problems[0])


def test_camtrap_package_with_no_existing_media_is_refused(tmp_path):
    (tmp_path / "media.csv").write_text("mediaID,filePath\nm1,media/x.jpg\nm2,media/y.jpg\n")
    (tmp_path / "observations.csv").write_text("observationID,mediaID,individualID\no1,m1,A\n")
    with pytest.raises(InputError, match="none of the 2 media files exists .*first tried .*media/x.jpg"):
        read_camtrap_dp(tmp_path)


def test_symlinks_never_lead_out_of_the_images_folder(tmp_path):
    outside = _photo(tmp_path / "outside" / "secret.jpg")
    _photo(tmp_path / "outside" / "sub" / "deep.jpg")
    images = tmp_path / "images"
    _photo(images / "ok.jpg")
    os.symlink(outside, images / "link.jpg")
    os.symlink(tmp_path / "outside" / "sub", images / "linkdir")
    os.symlink(images / "ok.jpg", images / "inside_link.jpg")  # inside: kept
    problems = Problems()
    found = {p.name for p in list_images(images, problems=problems)}
    assert found == {"ok.jpg", "inside_link.jpg"}
    assert problems.count("link leaves the folder") == 2
    table = photo_table(images)
    assert not any("secret" in p or "deep" in p for p in table["path"])


def test_output_folders_are_not_photos(tmp_path):
    images = tmp_path / "images"
    _photo(images / "a.jpg")
    _photo(images / "results" / "network.png")  # an earlier run's --out inside --images
    (images / "results" / "report.json").write_text(json.dumps({"provenance": {"seed": 0}}))
    _photo(images / "store" / "thumb.png")
    (images / "store" / "manifest.json").write_text(json.dumps({"format": "ecoreid-store-manifest"}))
    _photo(images / "new_out" / "x.png")  # this run's own --out, not yet holding a report
    _photo(images / "more" / "b.jpg")
    table = photo_table(images, exclude=[images / "new_out"])
    assert sorted(table["image"]) == ["a.jpg", "more/b.jpg"]


def test_unicode_names_match_in_nfc(tmp_path):
    nfd = unicodedata.normalize("NFD", "Zoë_ñ.jpg")
    nfc = unicodedata.normalize("NFC", "Zoë_ñ.jpg")
    assert nfd != nfc
    _photo(tmp_path / "images" / nfd)  # as macOS stores it
    _photo(tmp_path / "images" / "other.jpg")
    cat = tmp_path / "catalog.csv"
    cat.write_text(f"image,individual_id\nimages/{nfc},G1\n", encoding="utf-8")
    problems = Problems()
    table = photo_table(tmp_path / "images", catalog=cat, problems=problems)
    assert problems.count("missing file") == 0
    row = table[table["individual_id"] == "G1"].iloc[0]
    assert row["image"] == f"images/{nfc}" and Path(row["path"]).is_file()
    assert len(table) == 2  # the NFD file is the catalogue's row, not an extra query
    alone = photo_table(tmp_path / "images")
    assert f"{nfc}" in set(alone["image"])  # ids of folder photos are NFC too


def test_metadata_stays_text(tmp_path):
    _photo(tmp_path / "a.jpg")
    _photo(tmp_path / "b.jpg")
    cat = tmp_path / "catalog.csv"
    cat.write_text("image,individual_id,location,side\na.jpg,0012,007,01\nb.jpg,0012,007,01\n")
    table = photo_table(catalog=cat)
    assert set(table["individual_id"]) == {"0012"} and set(table["location"]) == {"007"}
    assert set(table["side"]) == {"01"}


def test_validate_refuses_what_run_refuses(tmp_path, capsys):
    _photo(tmp_path / "a.jpg")
    _photo(tmp_path / "b.jpg")
    cat = tmp_path / "catalog.csv"
    cat.write_text("image,individual_id\na.jpg,G1\n./a.jpg,G2\nb.jpg,G1\n")  # one photo, two rows
    with pytest.raises(InputError, match="duplicate image"):
        photo_table(tmp_path, catalog=cat)  # what `ecoreid run` calls
    rc = main(["validate", "--catalog", str(cat), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "duplicate image" in err


def test_semicolon_csvs_are_named(tmp_path):
    from ecoreid.store import confirm

    _photo(tmp_path / "a.jpg")
    cat = tmp_path / "catalog.csv"
    cat.write_text("image;individual_id\na.jpg;G1\n")
    with pytest.raises(InputError, match="separated by ';'"):
        photo_table(catalog=cat)
    store = tmp_path / "store"
    store.mkdir()
    (store / "store.json").write_text("{}")
    dec = tmp_path / "decisions.csv"
    dec.write_text("image;decision;individual_id\na.jpg;confirm;G1\n")
    with pytest.raises(InputError, match="separated by ';'"):
        confirm(store, dec, progress=False)


def test_store_path_that_is_a_file(tmp_path):
    from ecoreid.store_db import StoreLock

    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file, not a catalogue folder"):
        with StoreLock(tmp_path / "f"):
            pass
