"""`patron kpis`, `rfm`, `cohorts`, `spend`, `targets` as scripts run them (subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.orm import Session

from patron import db
from tests.analytics.conftest import build_store
from tests.conftest import run_patron as run


def seeded(url: str, tmp_path: Path) -> None:
    assert run(url, "init", cwd=tmp_path).returncode == 0
    engine = db.make_engine(url)
    with Session(engine) as session:
        build_store(session)
    engine.dispose()


def test_json_for_scripts(database: str, tmp_path: Path) -> None:
    seeded(database, tmp_path)
    kpis = run(database, "kpis", "--from", "2026-04-01", "--to", "2026-07-01", "--json",
               cwd=tmp_path)  # fmt: skip
    assert kpis.returncode == 0, kpis.stderr
    report = json.loads(kpis.stdout)  # exactly one JSON object on stdout
    values = {k["metric"]: k["value"] for k in report["kpis"]}
    assert (values["revenue"], values["orders"], values["cac"]) == (44000, 6, 48000)
    assert run(database, "rfm", "--refresh", cwd=tmp_path).returncode == 0
    rfm = run(database, "rfm", "--json", cwd=tmp_path)
    groups = {g["group"]: (g["customers"], g["revenue"]) for g in json.loads(rfm.stdout)["groups"]}
    assert sum(c for c, _ in groups.values()) == 7
    assert groups["prospects"] == (1, 0)
    cohorts = run(database, "cohorts", "--from", "2026-01", "--to", "2026-02", "--json",
                  cwd=tmp_path)  # fmt: skip
    assert [c["customers"] for c in json.loads(cohorts.stdout)["cohorts"]] == [1, 1]


def test_tables_spend_and_targets(database: str, tmp_path: Path) -> None:
    seeded(database, tmp_path)
    spend = run(database, "spend", "set", "meta", "2026-06", "1250.50", cwd=tmp_path)
    assert (spend.returncode, spend.stdout.strip()) == (0, "spend meta 2026-06: 1250.50 USD")
    listed = json.loads(run(database, "spend", "list", "--json", cwd=tmp_path).stdout)
    assert [(r["channel"], r["amount"]) for r in listed["items"] if r["channel"] == "meta"] == [
        ("meta", 125050)
    ]
    assert run(database, "targets", "set", "retention_rate", "0.6", cwd=tmp_path).returncode == 0
    table = run(database, "kpis", "--from", "2026-04-01", "--to", "2026-07-01", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "Retention rate" in table.stdout
    assert "66.7%" in table.stdout
    assert "60.0% ✓" in table.stdout
    csv_out = run(database, "kpis", "--from", "2026-04-01", "--to", "2026-07-01", "--csv",
                  cwd=tmp_path)  # fmt: skip
    assert csv_out.stdout.splitlines()[0].startswith("metric,label,unit,value,previous")
    cohorts = run(database, "cohorts", "--from", "2026-01", "--to", "2026-01", cwd=tmp_path)
    assert "2026-01" in cohorts.stdout


def test_bad_input_exits_2_naming_the_option(database: str, tmp_path: Path) -> None:
    assert run(database, "init", cwd=tmp_path).returncode == 0
    cases = [
        (("kpis", "--from", "2026-02-30", "--to", "2026-03-01"), "error: --from: "),
        (("kpis", "--from", "2026-04-01", "--to", "July"), "error: --to: "),
        (("kpis", "--from", "2026-04-01", "--to", "2026-03-01"), "error: --to: "),
        (("cohorts", "--from", "2026-1"), "error: --from: "),
        (("spend", "set", "meta", "2026-6", "10"), "error: month: "),
        (("spend", "set", "meta", "2026-06", "ten"), "error: amount: "),
        (("spend", "set", "meta", "2026-06", "10", "--currency", "XYZ"), "error: --currency: "),
        (("targets", "set", "nope", "1"), "error: metric: "),
    ]
    for args, prefix in cases:
        r = run(database, *args, cwd=tmp_path)
        assert (r.returncode, r.stderr[: len(prefix)]) == (2, prefix), (args, r.stderr)
