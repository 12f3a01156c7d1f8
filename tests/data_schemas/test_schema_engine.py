import json

import pandas as pd
import pytest

import data_schemas
from data_schemas import SchemaError, check, validate

WIDE = {
    "name": "wide",
    "fields": [{"name": "sample_id", "type": "string", "constraints": {"required": True, "unique": True}}],
    "primaryKey": "sample_id",
    "x-ecodml-extraFields": {"type": "integer", "constraints": {"required": True, "minimum": 0}},
    "foreignKeys": [{"fields": "sample_id", "reference": {"resource": "sample_sheet", "fields": "sample_id"}}],
}


def test_every_shipped_schema_is_json_with_fields():
    names = data_schemas.list_schemas()
    assert "sample_sheet" in names
    for n in names:
        d = json.loads(data_schemas.schema_path(n).read_text())
        assert d["fields"] and all("name" in f and "type" in f for f in d["fields"])
        assert d["name"] == n
    with pytest.raises(KeyError, match="known"):
        data_schemas.schema_path("nope")


def test_all_problems_listed_with_row_field_value():
    df = pd.DataFrame({"sample_id": ["S1", "S2", "S2", ""], "depth": ["5", "-1", "x", "3"],
                       "eventDate": ["2024-01-02", "2024-13-01", "", "2024-02-02"]})
    with pytest.raises(SchemaError) as ei:
        check(df, "sample_sheet", path="samples.csv")
    e = ei.value
    text = str(e)
    assert text.startswith("samples.csv: ")
    assert isinstance(e, ValueError)  # data_schemas stands alone: its own ValueError
    got = {(p.row, p.field) for p in e.problems}
    assert (3, "sample_id") in got  # duplicate
    assert (4, "sample_id") in got  # missing required
    assert (2, "depth") in got and (3, "depth") in got  # negative, not a number
    assert (2, "eventDate") in got  # month 13
    assert "expected a value >= 0" in text and "'x'" in text and e.total == 5


def test_valid_table_is_typed_and_extra_metadata_allowed():
    df = pd.DataFrame({"sample_id": ["a", "b"], "depth": ["1.5", ""], "station": ["T1", "T2"]})
    out = check(df, "sample_sheet")
    assert out["depth"].dtype == float and pd.isna(out["depth"].iloc[1])
    assert list(out["station"]) == ["T1", "T2"]


def test_wide_table_extra_fields_and_foreign_keys():
    sheet = pd.DataFrame({"sample_id": ["S1", "S2"]})
    good = pd.DataFrame({"sample_id": ["S1", "S2"], "MOTU_1": [3, 0], "MOTU_2": ["1", "2"]})
    out = check(good, WIDE, foreign={"sample_sheet": sheet})
    assert str(out["MOTU_2"].dtype) == "Int64"
    bad = pd.DataFrame({"sample_id": ["S1", "S9"], "MOTU_1": [3, -1], "MOTU_2": ["1.5", "2"]})
    probs = validate(bad, WIDE, foreign={"sample_sheet": sheet})
    msgs = {(p.row, p.field): p.message for p in probs}
    assert "not found in sample_sheet" in msgs[(2, "sample_id")]
    assert ">= 0" in msgs[(2, "MOTU_1")]
    assert "integer" in msgs[(1, "MOTU_2")]


def test_unexpected_and_missing_columns():
    schema = {"name": "t", "fields": [{"name": "a", "type": "integer", "constraints": {"required": True}},
                                      {"name": "b", "type": "boolean"}]}
    probs = validate(pd.DataFrame({"b": ["yes", "maybe"], "zzz": [1, 2]}), schema)
    text = " | ".join(map(str, probs))
    assert "required column is missing" in text and "unexpected column" in text and "expected type boolean" in text


def test_max_errors_caps_the_list_but_counts_all():
    df = pd.DataFrame({"sample_id": ["x"] * 500})
    with pytest.raises(SchemaError) as ei:
        check(df, "sample_sheet", max_errors=10)
    assert len(ei.value.problems) == 10 and ei.value.total > 10
    assert "more" in str(ei.value)


def test_files_read_with_clear_errors(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("sample_id,depth\nS1,2\nS1,3\n")
    with pytest.raises(SchemaError, match=r"(?s)s\.csv.*row 2 \(line 3\), field 'sample_id'"):
        check(p, "sample_sheet")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(SchemaError, match="empty"):
        check(tmp_path / "empty.csv", "sample_sheet")
    with pytest.raises(SchemaError, match="not found"):
        check(tmp_path / "none.csv", "sample_sheet")


def test_package_boundary_raises_input_error_with_the_same_problems():
    """dmlcore.errors.check_table: the readers' boundary check, caught as InputError or SchemaError."""
    from dmlcore.errors import InputError, Problems, check_table
    from dmlcore.errors import SchemaError as CoreSchemaError

    df = pd.DataFrame({"sample_id": ["S1", "S1"]})
    with pytest.raises(InputError) as ei:
        check_table(df, "sample_sheet", path="s.csv")
    e = ei.value
    assert isinstance(e, SchemaError) and isinstance(e, CoreSchemaError)
    assert str(e) == "s.csv: row 2, field 'sample_id': value must be unique; it repeats an earlier row (got 'S1') (schema 'sample_sheet')"
    assert [(p.row, p.field) for p in e.problems] == [(2, "sample_id")]
    probs = Problems()
    probs.extend(e.problems)
    assert probs.to_frame().loc[0, "field"] == "sample_id"


def test_empty_table_with_foreign_key_and_primary_key():
    """An empty table is valid against its foreign and primary keys (it used to raise AttributeError)."""
    schema = {"name": "child", "fields": [{"name": "a", "type": "string"}, {"name": "b", "type": "string"}],
              "primaryKey": ["a", "b"],
              "foreignKeys": [{"fields": "a", "reference": {"resource": "parent", "fields": "a"}}]}
    parent = pd.DataFrame({"a": ["x"]})
    empty = pd.DataFrame({"a": pd.Series([], dtype=str), "b": pd.Series([], dtype=str)})
    assert len(check(empty, schema, foreign={"parent": parent})) == 0
    assert validate(pd.DataFrame({"a": ["x", "y"], "b": ["1", "1"]}), schema, foreign={"parent": parent})[0].row == 2
