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
