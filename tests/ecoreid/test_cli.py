import json
import subprocess
import sys

import pandas as pd
import pytest

from ecoreid.cli import main

SMALL = ["--backbone", "small", "--image-size", "48,64", "--epochs", "1", "--embedding-size", "32",
         "--shortlist-k", "10", "--network-k", "5", "--quiet"]


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("run", "train", "enroll", "identify", "confirm", "generate"):
        assert cmd in out


def test_generate_and_bad_input_exit_codes(tmp_path, capsys):
    assert main(["generate", "--out", str(tmp_path / "g"), "--individuals", "2", "--photos", "2", "--quiet"]) == 0
    assert (tmp_path / "g" / "catalog.csv").is_file()
    # existing folder without --overwrite: exit 3, nothing touched
    before = sorted(p.name for p in (tmp_path / "g").iterdir())
    assert main(["generate", "--out", str(tmp_path / "g"), "--individuals", "2", "--photos", "2", "--quiet"]) == 3
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == before
    # a catalogue escaping its folder: exit 2 and a message naming the row
    (tmp_path / "bad.csv").write_text("image,individual_id\n../../etc/passwd,G1\n")
    assert main(["run", "--catalog", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bad.csv, row 1, field 'image'" in err and "leaves the catalogue folder" in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.slow
def test_cli_run_writes_results(small_data, tmp_path):
    out = tmp_path / "cli_out"
    rc = main(["run", "--images", str(small_data.images_dir), "--catalog", str(small_data.catalog_path),
               "--truth", str(small_data.root / "truth.csv"), "--out", str(out), *SMALL])
    assert rc == 0
    for f in ("assignments.csv", "similarity_network.graphml", "network.png", "review.html", "report.json"):
        assert (out / f).is_file(), f
    rep = json.loads((out / "report.json").read_text())
    assert rep["metrics"]["evaluation"]["top1"] >= 0.8
    assert rep["config"]["model"]["backbone"] == "small"
    assert main(["run", "--images", str(small_data.images_dir), "--catalog", str(small_data.catalog_path),
                 "--out", str(out), *SMALL]) == 3
    assert main(["run", "--images", str(small_data.images_dir), "--catalog", str(small_data.catalog_path),
                 "--out", str(out), "--overwrite", "--score", "keypoints", *SMALL]) == 0


@pytest.mark.slow
def test_console_script_entry_point(tmp_path):
    r = subprocess.run([sys.executable, "-c", "import sys; from ecoreid.cli import main; sys.exit(main())",
                        "generate", "--out", str(tmp_path / "d"), "--individuals", "1", "--photos", "1", "--quiet"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(pd.read_csv(tmp_path / "d" / "truth.csv")) == 1


@pytest.mark.slow
def test_cli_train_enroll_identify_confirm(small_data, tmp_path, capsys):
    assert main(["train", "--catalog", str(small_data.catalog_path), "--out", str(tmp_path / "m"),
                 "--backbone", "small", "--image-size", "48,64", "--epochs", "1", "--embedding-size", "32",
                 "--quiet"]) == 0
    assert (tmp_path / "m" / "model.safetensors").is_file() and (tmp_path / "m" / "history.csv").is_file()
    store = tmp_path / "store"
    assert main(["enroll", "--store", str(store), "--catalog", str(small_data.catalog_path),
                 "--checkpoint", str(tmp_path / "m" / "model.safetensors"), *SMALL]) == 0
    assert main(["identify", "--store", str(store), "--images", str(small_data.images_dir),
                 "--out", str(tmp_path / "r"), "--quiet"]) == 0
    a = pd.read_csv(tmp_path / "r" / "assignments.csv", keep_default_na=False)
    new = a[a["is_new"]]
    assert len(new)
    pd.DataFrame({"image": [new.iloc[0]["image"]], "decision": ["new"],
                  "individual_id": [new.iloc[0]["proposed_individual"]]}).to_csv(tmp_path / "dec.csv", index=False)
    assert main(["confirm", "--store", str(store), "--decisions", str(tmp_path / "dec.csv"),
                 "--run", str(tmp_path / "r"), "--user", "tester", "--quiet"]) == 0
    log = pd.read_csv(store / "decisions.csv", keep_default_na=False)
    assert log.iloc[-1]["individual_id"] == "IND-0001" and log.iloc[-1]["user"] == "tester"
    # --quiet: no progress bars or info lines on stderr
    assert "it/s" not in capsys.readouterr().err


def test_validate_lists_catalogue_problems(tmp_path):
    from PIL import Image

    from ecoreid.cli import main

    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    good = tmp_path / "good.csv"
    good.write_text("image,individual_id,date\na.jpg,G1,2024-01-02\n")
    assert main(["validate", "--catalog", str(good), "--quiet"]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("image,individual_id,date\na.jpg,G1,2024-01-02\na.jpg,G2,not-a-date\n../x.jpg,G3,\n")
    assert main(["validate", "--catalog", str(bad), "--quiet"]) == 2
