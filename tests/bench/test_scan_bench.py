"""``pyosi bench scan`` on a small corpus: every kind is built and every verdict is right."""

from __future__ import annotations

from pathlib import Path

from pyosi.bench.scan import MIX, build_corpus, run_scan_bench


def test_small_corpus_all_verdicts_right(tmp_path: Path) -> None:
    report = run_scan_bench(tmp_path / "corpus", 30, workers=2)
    assert report.files == 30
    assert report.wrong == [] and report.errors == 0
    assert set(report.per_kind) == {kind for kind, _, _ in MIX}
    assert {"pyosi-watermark", "c2pa", "decode"} <= set(report.detector_ms)
    doc = report.to_dict()
    assert doc["files_per_second"] > 0 and doc["detector_cpu_ms_per_file"]["c2pa"] >= 0


def test_corpus_is_reused(tmp_path: Path) -> None:
    first = build_corpus(tmp_path, 12)
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "files").iterdir()}
    assert build_corpus(tmp_path, 12) == first
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "files").iterdir()} == stamp
