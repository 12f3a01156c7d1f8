"""`ednaembed validate`: every problem of the input files, before a long run."""

from ednaembed.cli import main


def test_validate_sample_sheet_and_table(tmp_path, caplog):
    good = tmp_path / "good.csv"
    good.write_text("sample_id,habitat,depth\nS1,reef,5\nS2,open,10\n")
    assert main(["validate", "--samples", str(good), "--quiet"]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("sample_id,depth\nS1,5\nS1,-3\n,x\n")
    caplog.clear()
    assert main(["validate", "--samples", str(bad), "--quiet"]) == 2
    text = caplog.text
    assert "bad.csv" in text and "row 2" in text and "sample_id" in text and "depth" in text
    table = tmp_path / "otus.csv"
    table.write_text("sequence,S1,S2\nACGTACGT,3,0\nACGTTCGT,1,x\n")
    assert main(["validate", "--samples", str(good), "--table", str(table), "--quiet"]) == 2
    assert main(["validate", "--quiet"]) == 2
