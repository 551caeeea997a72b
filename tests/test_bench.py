"""The benchmark report's timing and rows (strided.bench): what it measures, not how fast anything is."""
import io

from strided import bench


def test_median_times_alternate_the_two_sides_and_skip_a_missing_one():
    calls = []
    a, b = (lambda: calls.append("a")), (lambda: calls.append("b"))
    ta, tb = bench._median_times([a, b], reps=4, min_time=0.0)
    assert calls == ["a", "b"] + ["a", "b"] * 4  # one warm-up each, then rounds of both
    assert ta > 0 and tb > 0
    calls.clear()
    t, missing = bench._median_times([a, None], reps=3, min_time=0.0)
    assert missing is None and t > 0 and calls == ["a"] * 4


def test_quick_report_has_a_row_per_pass():
    out = io.StringIO()
    report = bench.run(threads=(1,), layers=["lenet_c1"], pools=False, quick=True, out=out)
    rows = report["rows"]
    assert [r["pass"] for r in rows] == list(bench.CONV_PASSES)
    assert all(r["layer"] == "lenet_c1" and r["gflops"] > 0 and r["threads"] == 1 for r in rows)
    assert all((r["torch_time_s"] is None) == (r["vs_torch"] is None) for r in rows)
    assert "lenet_c1" in out.getvalue()
