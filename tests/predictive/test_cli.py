"""`patron models ...` as scripts run it: a CDNOW-format file imported, then backtest, train,
score and list, one JSON document each; bad dates exit 2 naming the option."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from tests.conftest import run_patron as run


def cdnow_file(path: Path, customers: int = 150) -> int:
    """A CDNOW-shaped file (id, YYYYMMDD, CDs, dollars) for 1997-01-01 .. 1998-06-30,
    first purchases in Q1 1997 like the real one; returns the number of lines."""
    rng = np.random.default_rng(3)
    lines = []
    start, end = date(1997, 1, 1), date(1998, 6, 30)
    for c in range(1, customers + 1):
        day = start + timedelta(days=int(rng.integers(0, 84)))
        rate = rng.gamma(0.9, 1 / 60)
        while day <= end:
            cds = int(rng.integers(1, 4))
            lines.append(f" {c:05d} {day:%Y%m%d}  {cds}   {cds * 12.49:.2f}")
            if rng.random() < 0.25:
                break
            day += timedelta(days=1 + int(rng.exponential(1 / max(rate, 1e-4))))
    path.write_text(" customer_id  date number_of_cds  dollar_value\n" + "\n".join(lines) + "\n")
    return len(lines)


def test_backtest_train_score_list_as_json(database: str, tmp_path: Path) -> None:
    assert run(database, "init", "--currency", "USD", cwd=tmp_path).returncode == 0
    src = tmp_path / "cdnow.txt"
    n = cdnow_file(src)
    imported = run(database, "import", "orders", str(src), "--format", "cdnow", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    bt = run(database, "models", "backtest", "--calibration-end", "1997-09-30",
             "--holdout-end", "1998-06-30", "--json", cwd=tmp_path)  # fmt: skip
    assert bt.returncode == 0, bt.stderr
    card = json.loads(bt.stdout)  # exactly one JSON object
    assert card["customers"] == 150
    assert card["calibration_start"] <= "1997-03-26"
    assert (card["calibration_end"], card["holdout_end"]) == ("1997-09-30", "1998-06-30")
    assert card["horizon_days"] == 273
    assert set(card["models"]) >= {"bgnbd", "pareto", "blend"}
    for m in card["models"].values():
        assert set(m) >= {
            "count_mae", "count_rmse", "count_spearman", "aggregate_error", "spend_mae",
            "churn_roc_auc", "churn_pr_auc", "churn_brier", "calibration",
        }  # fmt: skip
    assert card["calibration_purchases"] + card["holdout_purchases"] <= n
    assert card["chosen"]["counts"] in card["models"]

    tr = run(database, "models", "train", "--as-of", "1998-06-30", "--json", cwd=tmp_path)
    assert tr.returncode == 0, tr.stderr
    trained = json.loads(tr.stdout)
    assert trained["model"]["version"] == 1
    assert trained["score"]["scored"] == 150
    sc = run(database, "models", "score", "--as-of", "1998-07-31", "--json", cwd=tmp_path)
    assert sc.returncode == 0, sc.stderr
    assert json.loads(sc.stdout)["scored"] == 150
    ls = run(database, "models", "list", "--json", cwd=tmp_path)
    kinds = [(c["kind"], c["version"]) for c in json.loads(ls.stdout)]
    assert kinds == [("predictive.clv", 1), ("predictive.backtest", 1)]


def test_bad_dates_exit_2_naming_the_option(database: str, tmp_path: Path) -> None:
    assert run(database, "init", cwd=tmp_path).returncode == 0
    bad = run(database, "models", "backtest", "--calibration-end", "1997-02-30",
              "--holdout-end", "1998-06-30", "--json", cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 2
    assert "--calibration-end" in bad.stderr
    assert "Traceback" not in bad.stderr
    order = run(database, "models", "backtest", "--calibration-end", "1998-01-01",
                "--holdout-end", "1997-06-30", cwd=tmp_path)  # fmt: skip
    assert (order.returncode, "--holdout-end" in order.stderr) == (2, True)
    empty = run(database, "models", "backtest", "--calibration-end", "1998-01-01",
                "--holdout-end", "1998-06-30", cwd=tmp_path)  # fmt: skip
    assert (empty.returncode, "calibration_end" in empty.stderr) == (2, True)
    untrained = run(database, "models", "score", cwd=tmp_path)
    assert (untrained.returncode, "model" in untrained.stderr) == (2, True)
    as_of = run(database, "models", "train", "--as-of", "yesterday", cwd=tmp_path)
    assert (as_of.returncode, "--as-of" in as_of.stderr) == (2, True)
