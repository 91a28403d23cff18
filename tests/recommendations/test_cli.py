"""`patron recommendations ...` as a script runs it, on a small demo store, both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import run_patron as run


def test_train_lists_and_evaluate_json(database: str, tmp_path: Path) -> None:
    assert run(database, "init", cwd=tmp_path).returncode == 0
    assert run(database, "demo", "--customers", "300", "--seed", "3", cwd=tmp_path).returncode == 0
    trained = run(database, "recommendations", "train", "--json", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    card = json.loads(trained.stdout.strip().splitlines()[-1])
    assert (card["version"], card["data"]["products"]) == (1, 135)
    got = run(database, "recommendations", "trending", "--limit", "3", "--json", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    body = json.loads(got.stdout)
    assert (body["kind"], body["model_version"], len(body["items"])) == ("trending", 1, 3)
    assert all(i["reason"] == "trending now" for i in body["items"])
    pid = str(body["items"][0]["product_id"])
    out = run(database, "recommendations", "similar", "--product", pid, "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["kind"] == "similar"

    train_end = (datetime.now(UTC) - timedelta(days=120)).date().isoformat()
    ev = run(database, "recommendations", "evaluate", "--train-end", train_end, "--json",
             cwd=tmp_path)  # fmt: skip
    assert ev.returncode == 0, ev.stderr
    lines = ev.stdout.strip().splitlines()
    assert len(lines) == 1  # ONE JSON object
    report = json.loads(lines[0])
    assert report["train_end"] == f"{train_end}T00:00:00+00:00"
    new = report["tasks"]["new_items"]
    assert set(new) == {"popularity", "item_knn", "trending", "similar", "patron"}
    assert new["patron"]["lists"] == new["popularity"]["lists"] > 0
    for task in report["tasks"].values():
        for metrics in task.values():
            for k in (10, 20):
                for m in ("recall", "precision", "ndcg", "hit_rate", "coverage"):
                    assert 0.0 <= metrics[f"{m}@{k}"] <= 1.0


def test_bad_input_exits_2_naming_the_option(database: str, tmp_path: Path) -> None:
    assert run(database, "init", cwd=tmp_path).returncode == 0
    for bad in ("2011-13-01", "2011-9-1"):
        out = run(database, "recommendations", "evaluate", "--train-end", bad, "--json",
                  cwd=tmp_path)  # fmt: skip
        assert out.returncode == 2, (bad, out.stdout, out.stderr)
        assert "--train-end" in out.stderr
        assert "Traceback" not in out.stderr
    empty = run(database, "recommendations", "evaluate", "--train-end", "2011-09-01",
                cwd=tmp_path)  # fmt: skip
    assert (empty.returncode, "--train-end" in empty.stderr) == (2, True)
    out = run(database, "recommendations", "trending", "--limit", "0", cwd=tmp_path)
    assert (out.returncode, "--limit" in out.stderr) == (2, True)
    out = run(database, "recommendations", "rules", "set", "--category", "Food", "--policy",
              "often", cwd=tmp_path)  # fmt: skip
    assert (out.returncode, "--policy" in out.stderr) == (2, True)
