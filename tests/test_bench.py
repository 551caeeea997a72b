"""The benchmark report's timing and rows (strided.bench): what it measures, not how fast anything is."""
import io

from strided import bench


def test_times_alternate_the_two_sides_and_skip_a_missing_one():
    calls = []
    a, b = (lambda: calls.append("a")), (lambda: calls.append("b"))
    ta, tb = bench._times([a, b], reps=4, min_time=0.0)
    assert calls == ["a", "b"] + ["a", "b"] * 4  # one warm-up each, then rounds of both
    assert 0 < ta[1] <= ta[0] and 0 < tb[1] <= tb[0]  # (median, best)
    calls.clear()
    t, missing = bench._times([a, None], reps=3, min_time=0.0)
    assert missing is None and 0 < t[1] <= t[0] and calls == ["a"] * 4


def test_timed_row_rates_and_ratios_from_medians_and_best_calls():
    row = bench._timed({}, [(2.0, 1.0), (4.0, 3.0)], 8e9, 8.0, "gflops")
    assert row["gflops"] == 4.0 and row["pct_peak"] == 50.0 and row["best_pct_peak"] == 100.0
    assert row["vs_torch"] == 2.0 and row["best_vs_torch"] == 3.0
    row = bench._timed({}, [(2.0, 1.0), None], 8e9, 8.0, "gbs")
    assert row["gbs"] == 4.0 and row["vs_torch"] is None and row["best_vs_torch"] is None


def test_quick_report_has_a_row_per_pass():
    out = io.StringIO()
    report = bench.run(threads=(1,), layers=["lenet_c1"], pools=False, quick=True, out=out)
    rows = report["rows"]
    assert [r["pass"] for r in rows] == list(bench.CONV_PASSES)
    assert all(r["layer"] == "lenet_c1" and r["gflops"] > 0 and r["threads"] == 1 for r in rows)
    assert all((r["torch_time_s"] is None) == (r["vs_torch"] is None) for r in rows)
    assert all(0 < r["best_time_s"] <= r["time_s"] and r["best_pct_peak"] >= r["pct_peak"] for r in rows)
    assert "lenet_c1" in out.getvalue()


def test_report_probes_the_peaks_again_after_each_section():
    out = io.StringIO()
    report = bench.run(threads=(1,), layers=["lenet_c1"], pools=False, quick=True, out=out)
    peaks = report["machine"]["peaks"]["float32/1"]
    assert peaks["gflops"] > 0 and peaks["gflops_after"] > 0 and peaks["memcpy_gbs_after"] > 0


def test_report_says_when_the_peak_read_low(monkeypatch):
    readings = iter([10.0] * 3 + [20.0] * 3)  # the first probes on a busy moment, then the real peak
    monkeypatch.setattr(bench._C, "fma_peak", lambda dt, seconds: next(readings))
    out = io.StringIO()
    report = bench.run(threads=(1,), layers=["lenet_c1"], pools=False, quick=True, out=out)
    assert report["machine"]["peaks"]["float32/1"]["gflops_after"] == 20.0
    assert "FMA peak 20.0 GFLOP/s" in out.getvalue() and "used 10.0" in out.getvalue()
