"""``pyosi bench service`` at toy scale: it runs end to end and says what it measured.

No timing is asserted: only that every phase ran, every upload came back 201 with the verdict its
file was built to carry, and the report (JSON and table) holds what the docs say it does.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pyosi.bench.service import JSON_NAME, SCHEMA, with_comment
from pyosi.cli import get_app

runner = CliRunner()


def test_service_bench_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["bench", "service", "--files", "10", "--workers", "1", "--concurrency", "1,2",
            "--seconds", "1", "--rate", "2", "--corpus", str(tmp_path / "corpus"),
            "--out", str(out)]  # fmt: skip
    result = runner.invoke(get_app(), args)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / JSON_NAME).read_text())
    assert doc["schema"] == SCHEMA
    assert doc["checks"]["every upload 201 with the right verdict"], doc
    assert doc["server_log_alarms"] == []
    assert [p["concurrency"] for p in doc["closed_loop"]] == [1, 2]
    assert all(p["requests"] >= 1 and p["ok"] == p["requests"] for p in doc["closed_loop"])
    assert doc["open_loop"]["requests"] == 2 and doc["open_loop"]["target_rate"] == 2
    assert len(doc["library_runs"]) == 2
    assert all(r["files"] == 10 and r["wrong_verdicts"] == 0 for r in doc["library_runs"])
    assert doc["library_rate"] > 0 and doc["sustained_rate"] > 0
    assert set(doc["open_loop"]) >= {"p50_s", "p95_s", "p99_s", "throughput"}
    assert "sustained" in result.stdout and ("PASS" in result.stdout or "FAIL" in result.stdout)
    # The service ran in a temporary data directory that is gone again.
    assert not list(Path(doc["database"].removeprefix("sqlite:///")).parent.glob("pyosi.db"))


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    corpus = str(tmp_path / "corpus")
    sqlite = runner.invoke(
        get_app(), ["bench", "service", "--database-url", "sqlite:///x.db", "--corpus", corpus]
    )
    assert sqlite.exit_code == 6 and "Traceback" not in sqlite.output
    assert sqlite.stderr.startswith("error: --database-url takes a PostgreSQL URL")
    levels = runner.invoke(get_app(), ["bench", "service", "--concurrency", "2,0"])
    assert levels.exit_code == 2 and "--concurrency" in levels.stderr
    unreachable = runner.invoke(
        get_app(),
        ["bench", "service", "--database-url", "postgresql://nobody@127.0.0.1:1/x",
         "--corpus", corpus],
    )  # fmt: skip
    assert unreachable.exit_code == 6 and "Traceback" not in unreachable.output
    assert unreachable.stderr.startswith("error: cannot create a scratch database on")
    assert not Path(corpus).exists()  # failed before building anything


def test_uploads_are_distinct_but_the_same_picture() -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(buf, "JPEG")
    jpeg = buf.getvalue()
    a, b = with_comment(jpeg), with_comment(jpeg)
    assert a != b and len(a) > len(jpeg)
    with Image.open(io.BytesIO(a)) as im, Image.open(io.BytesIO(jpeg)) as orig:
        assert im.tobytes() == orig.tobytes()
        assert im.info["comment"].startswith(b"pyosi-bench ")
