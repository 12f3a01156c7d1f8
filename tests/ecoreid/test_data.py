import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dmlcore.errors import InputError
from dmlcore.errors import Problems
from ecoreid.data import (ImageReadError, crop_to_bbox, load_image, load_images, photo_table, read_camtrap_dp,
                          read_catalog)


@pytest.fixture
def jpeg(tmp_path):
    p = tmp_path / "ok.jpg"
    arr = np.zeros((30, 40, 3), np.uint8)
    arr[:, :20] = (200, 50, 10)
    Image.fromarray(arr).save(p, quality=95)
    return p


def test_corrupt_and_truncated_name_the_file(tmp_path, jpeg):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(ImageReadError, match="bad.jpg"):
        load_image(bad)
    data = jpeg.read_bytes()
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="trunc.jpg"):
        load_image(trunc)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageReadError):
        load_image(empty)
    with pytest.raises(ImageReadError, match="not found"):
        load_image(tmp_path / "missing.jpg")


def test_batch_skips_and_counts_bad_files(tmp_path, jpeg):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    probs = Problems()
    out = load_images([jpeg, bad, jpeg], problems=probs)
    assert [o is None for o in out] == [False, True, False]
    assert probs.count("unreadable image") == 1 and probs[0].path.endswith("bad.png")


def test_modes_are_converted_to_rgb(tmp_path):
    Image.new("CMYK", (10, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    im = load_image(tmp_path / "cmyk.jpg")
    assert im.mode == "RGB" and np.asarray(im)[..., 0].mean() > 200 and np.asarray(im)[..., 1].mean() < 60
    arr16 = (np.linspace(0, 65535, 80).reshape(8, 10)).astype(np.uint16)
    Image.fromarray(arr16).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    im16 = np.asarray(load_image(tmp_path / "g16.png"))
    assert im16.dtype == np.uint8 and im16.max() == 255 and im16.min() == 0
    Image.new("RGBA", (6, 6), (255, 0, 0, 0)).save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png").mode == "RGB"
    Image.new("P", (6, 6)).save(tmp_path / "p.gif")
    assert load_image(tmp_path / "p.gif").mode == "RGB"
    Image.new("RGB", (12, 9)).save(tmp_path / "t.tif")
    assert load_image(tmp_path / "t.tif").size == (12, 9)


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20))
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    im.save(tmp_path / "rot.jpg", exif=exif)
    assert load_image(tmp_path / "rot.jpg").size == (20, 40)


def test_decompression_bomb_limit(jpeg):
    with pytest.raises(ImageReadError, match="too large"):
        load_image(jpeg, max_pixels=100)  # 1200 pixels > 2 x limit: DecompressionBombError
    with pytest.raises(ImageReadError, match="too large"):
        load_image(jpeg, max_pixels=1000)  # between 1x and 2x: Pillow's warning, turned into an error
    assert Image.MAX_IMAGE_PIXELS and Image.MAX_IMAGE_PIXELS > 1000  # global limit restored


def test_crop_to_bbox(jpeg):
    im = load_image(jpeg)
    assert crop_to_bbox(im, (0, 0, 20, 30), margin=0).size == (20, 30)
    assert crop_to_bbox(im, (0.5, 0, 0.5, 1.0), relative=True, margin=0).size == (20, 30)
    assert crop_to_bbox(im, (np.nan,) * 4).size == (40, 30)
    with pytest.raises(InputError, match="outside"):
        crop_to_bbox(im, (100, 100, 10, 10))


def _catalog(tmp_path, text, name="catalog.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_catalog_reads_and_resolves(tmp_path, jpeg):
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "sub" / "b.png")
    p = _catalog(tmp_path, "Image,Individual_ID,Date,side,bbox_x,bbox_y,bbox_w,bbox_h\n"
                           "ok.jpg,G1,2024-03-01,left,1,2,10,10\nsub/b.png,,2024-05-01T10:00:00,,,,,\n")
    cat = read_catalog(p)
    assert list(cat["image"]) == ["ok.jpg", "sub/b.png"]
    assert cat.loc[0, "individual_id"] == "G1" and pd.isna(cat.loc[1, "individual_id"])
    assert cat.loc[0, "bbox_w"] == 10 and np.isnan(cat.loc[1, "bbox_w"])
    assert str(cat.loc[1, "date"]).startswith("2024-05-01 10:00")


@pytest.mark.parametrize("bad", ["../outside.jpg", "sub/../../outside.jpg", "/etc/passwd"])
def test_catalog_refuses_paths_leaving_root(tmp_path, bad):
    root = tmp_path / "cat"
    root.mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "outside.jpg")
    p = _catalog(root, f"image,individual_id\n{bad},G1\n")
    with pytest.raises(InputError, match="leaves the catalogue folder") as e:
        read_catalog(p)
    assert "row 1" in str(e.value) and "'image'" in str(e.value)


def test_catalog_refuses_symlink_out_of_root(tmp_path):
    root = tmp_path / "cat"
    root.mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "secret.jpg")
    os.symlink(tmp_path / "secret.jpg", root / "link.jpg")
    with pytest.raises(InputError, match="leaves"):
        read_catalog(_catalog(root, "image\nlink.jpg\n"))


@pytest.mark.parametrize("text,match", [
    ("file_name_wrong,individual_id\nok.jpg,G1\n", "field 'image': required column is missing"),
    ("image,individual_id\nok.jpg,G1\nok.jpg,G2\n", "row 2, field 'image': value must be unique"),
    ("image,individual_id\nok.jpg,G1\n./ok.jpg,G2\n", "duplicate image"),
    ("image,date\nok.jpg,not-a-date\n", "field 'date': expected type datetime"),
    ("image,bbox_x,bbox_y,bbox_w,bbox_h\nok.jpg,1,1,0,5\n", "empty bounding box"),
    ("image,bbox_x,bbox_y,bbox_w,bbox_h\nok.jpg,1,1,x,5\n", "field 'bbox_w': expected type number"),
    ("image,bbox_x,bbox_y,bbox_w,bbox_h\nok.jpg,1,1,5,\n", "incomplete bounding box"),
    ("image,bbox_x,bbox_y,bbox_w,bbox_h\nok.jpg,-3,1,5,5\n", "field 'bbox_x': expected a value >= 0"),
    ("image,individual_id\n,G1\n", "field 'image': value is required"),
    ("", "empty"),
])
def test_catalog_errors_name_row_and_field(tmp_path, jpeg, text, match):
    with pytest.raises(InputError, match=match) as e:
        read_catalog(_catalog(tmp_path, text))
    assert "catalog.csv" in str(e.value)


def test_catalog_missing_file_and_singletons_are_counted(tmp_path, jpeg):
    probs = Problems()
    cat = read_catalog(_catalog(tmp_path, "image,individual_id\nok.jpg,G1\nnope.jpg,G2\n"), problems=probs)
    assert list(cat["image"]) == ["ok.jpg"]
    assert probs.count("missing file") == 1 and probs.count("single-photo individual") == 1


def test_photo_table_adds_unlisted_photos_as_queries(tmp_path, jpeg):
    Image.new("RGB", (8, 8)).save(tmp_path / "new.png")
    t = photo_table(tmp_path, catalog=_catalog(tmp_path, "image,individual_id\nok.jpg,G1\n"))
    assert set(t["image"]) == {"ok.jpg", "new.png"}
    assert t.set_index("image").loc["new.png", "individual_id"] is pd.NA
    with pytest.raises(InputError):
        photo_table(None, catalog=None)


def _camtrap(tmp_path, media, obs):
    d = tmp_path / "dp"
    (d / "media").mkdir(parents=True)
    Image.new("RGB", (40, 20)).save(d / "media" / "m1.jpg")
    Image.new("RGB", (40, 20)).save(d / "media" / "m2.jpg")
    (d / "media.csv").write_text(media)
    (d / "observations.csv").write_text(obs)
    return d


MEDIA = ("mediaID,deploymentID,timestamp,filePath,filePublic,fileMediatype\n"
         "m1,dep1,2024-01-01T10:00:00Z,media/m1.jpg,false,image/jpeg\n"
         "m2,dep1,2024-01-02T10:00:00Z,media/m2.jpg,false,image/jpeg\n")


def test_camtrap_dp(tmp_path):
    obs = ("observationID,deploymentID,mediaID,observationLevel,individualID,bboxX,bboxY,bboxWidth,bboxHeight\n"
           "o1,dep1,m1,media,GIR-7,0.1,0.2,0.5,0.5\no2,dep1,m2,media,,,,,\n")
    cat = read_camtrap_dp(_camtrap(tmp_path, MEDIA, obs))
    assert list(cat["image"]) == ["media/m1.jpg", "media/m2.jpg"]
    assert cat.loc[0, "individual_id"] == "GIR-7" and bool(cat.loc[0, "bbox_relative"])
    assert cat.loc[0, "bbox_w"] == 0.5 and pd.isna(cat.loc[1, "individual_id"])
    t = photo_table(None, catalog=tmp_path / "dp")
    assert len(t) == 2


@pytest.mark.parametrize("obs,match", [
    ("observationID,mediaID,individualID\no1,m9,G\n", "field .mediaID.: not found in camtrap_media.mediaID"),
    ("observationID,mediaID,individualID\no1,m1,A\no2,m1,B\n", "two individuals"),
    ("observationID,mediaID,individualID,bboxX,bboxY,bboxWidth,bboxHeight\no1,m1,A,0.8,0,0.5,0.5\n", "leaves"),
])
def test_camtrap_errors(tmp_path, obs, match):
    with pytest.raises(InputError, match=match):
        read_camtrap_dp(_camtrap(tmp_path, MEDIA, obs))


def test_camtrap_refuses_urls_and_escapes(tmp_path):
    media = "mediaID,filePath\nm1,https://example.org/x.jpg\n"
    with pytest.raises(InputError, match="remote"):
        read_camtrap_dp(_camtrap(tmp_path, media, "observationID,mediaID\n"))
    media = "mediaID,filePath\nm1,../../x.jpg\n"
    with pytest.raises(InputError, match="leaves"):
        read_camtrap_dp(_camtrap(tmp_path / "b", media, "observationID,mediaID\n"))


from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_CELLS = st.sampled_from(["ok.jpg", "../x.jpg", "", "G1", "2024-01-01", "nan", "1", "-1", "0", "1e400", "a,b",
                          '"', "\x00", "sub/../ok.jpg", "  ok.jpg  ", "ok.jpg\nok.jpg", "é", "x" * 300])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.lists(st.sampled_from(["image", "individual_id", "date", "bbox_x", "bbox_y", "bbox_w", "bbox_h",
                                        "side", "path", "junk"]), min_size=1, max_size=6),
       rows=st.lists(st.lists(_CELLS, min_size=0, max_size=7), max_size=5))
def test_catalog_fuzz_gives_input_error_or_table(tmp_path, jpeg, header, rows):
    text = ",".join(header) + "\n" + "\n".join(",".join(r) for r in rows) + "\n"
    p = tmp_path / "fuzz.csv"
    p.write_text(text, encoding="utf-8")
    try:
        cat = read_catalog(p)
    except InputError:
        return
    assert set(cat["image"]) <= {"ok.jpg"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_catalog_fuzz_bytes(tmp_path, data):
    p = tmp_path / "bytes.csv"
    p.write_bytes(data)
    try:
        read_catalog(p)
    except InputError:
        pass
