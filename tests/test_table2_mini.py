"""The mini Table 2's report: rows, label-source differences and learning curves from run results."""

from benchmarks.table2_mini import MiniConfig, learning_curve, results_markdown


def test_learning_curve_averages_the_test_sets_of_each_scoring():
    results = {"history": [{"steps": 32, "tests": {"a": {"f1": 10.0}, "b": {"f1": 20.0}}}, {"steps": 64},
                           {"steps": 96, "tests": {"a": {"f1": 30.0}, "b": {"f1": 50.0}}}]}
    assert learning_curve(results) == [[32, 15.0], [96, 40.0]]


def test_results_markdown_rows_and_gaps(tmp_path):
    table = {"pscc_net": {"sigma": 40.0, "pixdiff": 30.5, "truth": 45.25, "steps": 96,
                          "curve": {"sigma": [[32, 1.0], [96, 40.0]]}, "warnings": ["pixdiff labels: constant"]}}
    checkpoint = tmp_path / "ck.pt"
    checkpoint.write_bytes(b"weights")
    text = results_markdown(table, {"sigma": 80.0, "pixdiff": 60.0, "truth": 100.0}, MiniConfig(), str(checkpoint))
    assert "| pscc_net | 96 | 40.00 | 30.50 | 45.25 | +9.50 | +5.25 |" in text
    assert "- pscc_net / sigma: 32: 1.0, 96: 40.0" in text
    assert "- **warning**: pixdiff labels: constant" in text
    assert "`ck.pt` (sha256 " in text and "sigma 80.00, pixdiff 60.00, truth 100.00" in text
