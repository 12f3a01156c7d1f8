"""Every shipped schema is a valid Frictionless Table Schema, and every table the pipelines write validates.

The pipelines run once per session on small data (ednaembed: 9 simulated samples from the
bundled 16S references, PCA map; ecoreid: 6 generated individuals, the small CNN for one
epoch, then a persistent catalogue: enroll, identify, confirm). Each output table is checked
with our validator (``data_schemas.check``) and, for the CSV files, with frictionless-py too.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

import data_schemas
from data_schemas import SchemaError, check, frictionless_schema, validate

try:  # the dev extra installs it; without it only the frictionless-py halves are skipped
    import frictionless
except ImportError:  # pragma: no cover
    frictionless = None
needs_fl = pytest.mark.skipif(frictionless is None, reason="frictionless-py not installed (pip install -e '.[dev]')")

HERE = Path(__file__).resolve().parent

#: Every table ecodml reads or writes, by schema name (a new table needs a schema and a line here).
EXPECTED = {
    # ednaembed
    "sample_sheet", "otu_table", "motu_table", "motus", "read_assignments", "sample_map", "sample_embeddings",
    "sequence_embeddings", "map_faithfulness", "asv_table", "asvs", "track",
    # ecoreid
    "photo_catalog", "camtrap_media", "camtrap_observations", "truth", "assignments", "individuals", "photos",
    "pairs", "problems", "decisions", "review_decisions", "photo_embeddings",
}


# ----------------------------------------------------------------------------- descriptors (fast)
def test_the_schema_list_is_complete():
    assert set(data_schemas.list_schemas()) == EXPECTED


@needs_fl
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_schema_is_valid_frictionless(name):
    raw = json.loads(data_schemas.schema_path(name).read_text(encoding="utf-8"))
    assert raw["name"] == name
    for d in (raw, frictionless_schema(name)):
        report = frictionless.Schema.validate_descriptor(d)
        assert report.valid, report.flatten(["type", "note"])
    schema = frictionless.Schema.from_descriptor(frictionless_schema(name))
    assert [f.name for f in schema.fields] == [f["name"] for f in raw["fields"]]
    for f in raw["fields"]:  # documented: every field says what it is
        assert f.get("title") or f.get("description"), f"{name}.{f['name']} has neither title nor description"
    for fk in raw.get("foreignKeys", []):
        assert fk["reference"]["resource"] in EXPECTED


@needs_fl
def test_frictionless_rejects_a_broken_descriptor():
    """The check above can fail: a misspelt type and a dangling primary key are reported."""
    bad = {"fields": [{"name": "a", "type": "integr"}], "primaryKey": "b"}
    assert not frictionless.Schema.validate_descriptor(bad).valid


def test_frictionless_schema_expands_wide_tables():
    d = frictionless_schema("motu_table", ["sample_id", "MOTU_01", "MOTU_02"])
    assert [(f["name"], f["type"]) for f in d["fields"]] == [("sample_id", "string"), ("MOTU_01", "integer"),
                                                             ("MOTU_02", "integer")]
    assert "foreignKeys" not in d and not any(k.startswith("x-ecodml") for k in d)
    d = frictionless_schema("sample_map", ["sample_id", "x", "y", "habitat"], foreign_keys=True)
    assert d["fields"][-1] == {"name": "habitat", "type": "any"} and d["foreignKeys"]


# ----------------------------------------------------------------------------- helpers
def _fl_validate(path: Path, name: str, columns=None):
    """Validate a CSV with frictionless-py against the (expanded) schema; return the error list."""
    path = Path(path)
    if columns is None:
        columns = list(pd.read_csv(path, nrows=0).columns)
    res = frictionless.Resource(path=path.name, basepath=str(path.parent),
                                schema=frictionless.Schema.from_descriptor(frictionless_schema(name, columns)))
    report = frictionless.validate(res)
    return report.flatten(["rowNumber", "fieldName", "type", "note"])


def _both(path: Path, name: str, *, foreign=None):
    """Our validator and (for CSV) frictionless-py must both accept the file."""
    check(path, name, foreign=foreign)
    if str(path).endswith(".csv") and frictionless is not None:
        errors = _fl_validate(path, name)
        assert errors == [], errors[:5]


# ----------------------------------------------------------------------------- ednaembed outputs
@pytest.fixture(scope="module")
def edna(tmp_path_factory, tiny_model_path):
    """One small ednaembed run (CLI and Python API share write_outputs), `ednaembed embed` and `cluster`."""
    import torch

    torch.set_num_threads(1)
    from ednaembed import cli
    from ednaembed.pipeline import run
    from ednaembed.simulate import simulate_community, write_sample_files

    root = tmp_path_factory.mktemp("edna_schemas")
    model = tiny_model_path  # a tiny encoder: the tables do not depend on the bundled model
    sim = simulate_community(n_samples=9, n_habitats=3, reads_per_sample=300, n_taxa=60, seed=3)
    files, sheet = write_sample_files(sim, root / "input")
    res = run(files, samples=sheet, out=root / "results", progress=False, map_method="pca", permutations=9,
              checkpoint=str(model), device="cpu")
    assert cli.main(["--quiet", "embed", "--reads", *map(str, files), "--out", str(root / "emb.parquet"),
                     "--checkpoint", str(model), "--device", "cpu"]) == 0
    assert cli.main(["--quiet", "cluster", "--embeddings", str(root / "emb.parquet"),
                     "--out", str(root / "clusters"), "--device", "cpu"]) == 0
    return {"root": root, "files": files, "sheet_path": Path(sheet), "res": res, "sim": sim}


@pytest.mark.slow
def test_edna_sample_sheet_validates(edna):
    _both(edna["sheet_path"], "sample_sheet")


@pytest.mark.slow
@pytest.mark.parametrize("name,file", [
    ("motu_table", "results/motu_table.csv"),
    ("sample_map", "results/sample_map.csv"),
    ("map_faithfulness", "results/map_faithfulness.csv"),
    ("read_assignments", "results/read_assignments.parquet"),
    ("sample_embeddings", "results/sample_embeddings.parquet"),
    ("sequence_embeddings", "emb.parquet"),
    ("read_assignments", "clusters/read_assignments.parquet"),
])
def test_edna_outputs_validate(edna, name, file):
    sheet = check(edna["sheet_path"], "sample_sheet")
    motus = edna["res"].motus
    _both(edna["root"] / file, name, foreign={"sample_sheet": sheet, "motus": motus} if "clusters" not in file
          else None)


@pytest.mark.slow
def test_edna_motus_table_and_fasta_agree(edna):
    """motus is written as FASTA: the DataFrame validates and the FASTA headers hold the same ids and sizes."""
    from ednaembed.io import iter_records, parse_header

    motus = check(edna["res"].motus, "motus")
    recs = [(parse_header(r.title), r.sequence) for r in iter_records(edna["root"] / "results" / "motus.fasta")]
    assert [(rid, size) for (rid, _, size), _ in recs] == list(zip(motus["motu_id"], motus["size"].astype(int)))
    assert [s for _, s in recs] == motus["sequence"].tolist()
    mt = pd.read_csv(edna["root"] / "results" / "motu_table.csv", nrows=0)
    assert set(mt.columns[1:]) <= set(motus["motu_id"])


@needs_fl
@pytest.mark.slow
def test_edna_foreign_keys_in_a_frictionless_package(edna):
    """R users read the outputs as a data package: the foreign key motu_table.sample_id -> sample_sheet holds."""
    res_dir = edna["root"] / "results"

    def resource(path: Path, name: str) -> dict:
        cols = list(pd.read_csv(path, nrows=0).columns)
        return {"name": name, "path": os.path.relpath(path, edna["root"]), "format": "csv",
                "schema": frictionless_schema(name, cols, foreign_keys=True)}

    desc = {"name": "ednaembed-run", "resources": [resource(edna["sheet_path"], "sample_sheet"),
                                                   resource(res_dir / "motu_table.csv", "motu_table"),
                                                   resource(res_dir / "sample_map.csv", "sample_map")]}
    (edna["root"] / "datapackage.json").write_text(json.dumps(desc, indent=2))
    report = frictionless.validate(str(edna["root"] / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]
    # and it can fail: a sample missing from the sheet breaks the foreign key
    mt = pd.read_csv(res_dir / "motu_table.csv", dtype=str)
    mt.loc[0, "sample_id"] = "GHOST"
    mt.to_csv(edna["root"] / "motu_table_bad.csv", index=False)
    desc["resources"][1]["path"] = "motu_table_bad.csv"
    (edna["root"] / "datapackage_bad.json").write_text(json.dumps(desc, indent=2))
    report = frictionless.validate(str(edna["root"] / "datapackage_bad.json"))
    assert [e[:3] for e in report.flatten(["rowNumber", "fieldName", "type"])] == [[2, None, "foreign-key"]]


@pytest.mark.slow
def test_edna_broken_outputs_are_caught(edna, tmp_path):
    """The checks above can fail: a negative count, a sample not in the sheet, a non-integer count."""
    mt = pd.read_csv(edna["root"] / "results" / "motu_table.csv", dtype=str)
    col = mt.columns[1]
    mt.loc[0, col] = "-1"
    mt.loc[1, col] = "2.5"
    mt.loc[2, "sample_id"] = "NOT_IN_SHEET"
    p = tmp_path / "motu_table.csv"
    mt.to_csv(p, index=False)
    sheet = check(edna["sheet_path"], "sample_sheet")
    probs = {(pr.row, pr.field) for pr in validate(p, "motu_table", foreign={"sample_sheet": sheet})}
    assert {(1, col), (2, col), (3, "sample_id")} <= probs
    if frictionless is None:
        return
    fl_errors = _fl_validate(p, "motu_table")
    assert {(e[0], e[1]) for e in fl_errors} >= {(2, col), (3, col)}  # frictionless counts the header as row 1


@pytest.mark.slow
def test_otu_table_input_validates_and_reads(edna, tmp_path):
    """An ASV table in the documented layout validates and ednaembed.io.read_otu_table reads it."""
    from ednaembed.io import read_otu_table, read_reads

    long = read_reads(edna["files"])
    wide = long.pivot_table(index="sequence", columns="sample_id", values="count", aggfunc="sum", fill_value=0)
    wide = wide.reset_index()
    wide.insert(0, "asv_id", [f"ASV{i}" for i in range(len(wide))])
    wide.insert(2, "lineage", "Bacteria|unknown")
    p = tmp_path / "asv_table.tsv"
    wide.to_csv(p, sep="\t", index=False)
    check(p, "otu_table")
    otus, counts = read_otu_table(p)
    assert counts.shape == (len(wide.columns) - 3, len(wide))
    bad = wide.copy()
    bad.iloc[0, 3] = -4
    bad.loc[1, "sequence"] = "ACGTXQ"
    bad.to_csv(p, sep="\t", index=False)
    assert {pr.field for pr in validate(p, "otu_table")} == {bad.columns[3], "sequence"}


@pytest.mark.shared_data
def test_tara_tables_validate(shared_data):
    for p in sorted((shared_data / "edna" / "tara_v9_18s").glob("*.csv.gz")):
        check(p, "otu_table")


# ----------------------------------------------------------------------------- ecoreid outputs
@pytest.fixture(scope="module")
def reid(tmp_path_factory):
    """One small ecoreid run, and a persistent catalogue: enroll, identify, confirm."""
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(HERE.parent / "ecoreid"))
    from ecoreid_testutil import small_config

    from ecoreid.pipeline import run
    from ecoreid.store import confirm, enroll, identify
    from ecoreid.datasets import SynthConfig, generate_dataset

    root = tmp_path_factory.mktemp("reid_schemas")
    ds = generate_dataset(root / "data", config=SynthConfig(n_individuals=6, photos_per_individual=4,
                                                            image_size=(160, 120), seed=3))
    run(ds.images_dir, catalog=ds.catalog_path, out=root / "run", truth=ds.root / "truth.csv",
        config=small_config(), progress=False)
    enroll(root / "store", catalog=ds.catalog_path, images=ds.images_dir, config=small_config(), progress=False)
    idf = identify(root / "store", images=ds.images_dir, out=root / "identify", progress=False)
    a = idf.assignments
    dec = pd.DataFrame({"image": a["image"][:3], "decision": ["confirm", "new", "reject"],
                        "individual_id": [a["candidate_1"].iloc[0] or "G000", "new_x", a["candidate_1"].iloc[2] or "G001"]})
    dec.to_csv(root / "decisions_in.csv", index=False)
    confirm(root / "store", root / "decisions_in.csv", run_dir=root / "identify", progress=False)
    # a Camtrap DP package over the same photos (boxes as fractions)
    cam = root / "data"
    cat = pd.read_csv(ds.catalog_path, dtype=str, keep_default_na=False)
    media = pd.DataFrame({"mediaID": [f"m{i}" for i in range(len(cat))], "deploymentID": cat["location"],
                          "captureMethod": "activityDetection",
                          "timestamp": [f"{d}T12:00:00+02:00" for d in cat["date"]], "filePath": cat["image"],
                          "filePublic": "false", "fileMediatype": "image/jpeg"})
    obs = pd.DataFrame({"observationID": [f"o{i}" for i in range(len(cat))], "deploymentID": cat["location"],
                        "mediaID": media["mediaID"], "eventID": "", "observationType": "animal",
                        "individualID": cat["individual_id"], "bboxX": 0.1, "bboxY": 0.05, "bboxWidth": 0.8,
                        "bboxHeight": 0.9})
    media.to_csv(cam / "media.csv", index=False)
    obs.to_csv(cam / "observations.csv", index=False)
    return {"root": root, "ds": ds}


@pytest.mark.slow
@pytest.mark.parametrize("name,file", [
    ("photo_catalog", "data/catalog.csv"),
    ("truth", "data/truth.csv"),
    ("camtrap_media", "data/media.csv"),
    ("assignments", "run/assignments.csv"),
    ("individuals", "run/individuals.csv"),
    ("photos", "run/photos.csv"),
    ("pairs", "run/pairs.csv"),
    ("problems", "run/problems.csv"),
    ("assignments", "identify/assignments.csv"),
    ("individuals", "identify/individuals.csv"),
    ("photos", "identify/photos.csv"),
    ("pairs", "identify/pairs.csv"),
    ("problems", "identify/problems.csv"),
    ("photos", "store/photos.parquet"),
    ("photo_embeddings", "store/embeddings.parquet"),
    ("individuals", "store/individuals.csv"),
    ("decisions", "store/decisions.csv"),
    ("review_decisions", "decisions_in.csv"),
])
def test_reid_tables_validate(reid, name, file):
    foreign = None
    if name == "photo_embeddings":
        foreign = {"photos": pd.read_parquet(reid["root"] / "store" / "photos.parquet")}
    _both(reid["root"] / file, name, foreign=foreign)


@pytest.mark.slow
def test_reid_camtrap_observations_validate_and_read(reid):
    from ecoreid.data import read_camtrap_dp

    media = check(reid["root"] / "data" / "media.csv", "camtrap_media")
    _both(reid["root"] / "data" / "observations.csv", "camtrap_observations", foreign={"camtrap_media": media})
    table = read_camtrap_dp(reid["root"] / "data")
    assert len(table) == len(media) and table["bbox_relative"].all()


@pytest.mark.slow
def test_reid_decisions_log_grows_and_stays_valid(reid):
    log = check(reid["root"] / "store" / "decisions.csv", "decisions")
    assert {"enroll", "confirm", "new", "reject"} <= set(log["decision"])


@pytest.mark.slow
def test_reid_broken_tables_are_caught(reid, tmp_path):
    a = pd.read_csv(reid["root"] / "run" / "assignments.csv", dtype=str, keep_default_na=False)
    a.loc[0, "score"] = "1.7"
    a.loc[1, "is_new"] = "maybe"
    a.loc[2, "decision"] = "perhaps"
    a.loc[3, "image"] = a.loc[0, "image"]
    p = tmp_path / "assignments.csv"
    a.to_csv(p, index=False)
    with pytest.raises(SchemaError) as ei:
        check(p, "assignments")
    got = {(pr.row, pr.field) for pr in ei.value.problems}
    assert {(1, "score"), (2, "is_new"), (3, "decision"), (4, "image")} <= got
    if frictionless is None:
        return
    fl = {(e[0], e[1]) for e in _fl_validate(p, "assignments")}
    assert {(2, "score"), (3, "is_new"), (4, "decision")} <= fl
