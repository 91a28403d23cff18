"""`patron segments ...` as a script runs it: a subprocess, no terminal, a real database."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from patron import db
from tests.conftest import run_patron as run


def scalar(url: str, sql: str) -> object:
    engine = db.make_engine(url)
    with engine.connect() as conn:
        value = conn.execute(sa.text(sql)).scalar()
    engine.dispose()
    return value


def test_segments_commands_end_to_end(database: str, tmp_path: Path) -> None:
    assert run(database, "init", cwd=tmp_path).returncode == 0
    demo = run(database, "demo", "--customers", "60", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    repeat = scalar(
        database,
        "SELECT count(*) FROM customers WHERE orders_count >= 2 AND "
        "merged_into_id IS NULL AND is_anonymous = false",
    )
    assert isinstance(repeat, int)
    assert repeat > 0

    got = run(database, "segments", "preview", "orders_count >= 2", "--json", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    lines = got.stdout.strip().splitlines()
    assert len(lines) == 1
    body = json.loads(lines[0])
    assert sorted(body) == ["count", "sample"]
    assert body["count"] == repeat
    assert len(body["sample"]) == min(10, repeat)
    assert all(m["orders_count"] >= 2 for m in body["sample"])

    made = run(
        database,
        "segments",
        "create",
        "Repeat",
        "--query",
        "orders_count >= 2",
        "--json",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["member_count"] == repeat
    refreshed = run(database, "segments", "refresh", "Repeat", "--json", cwd=tmp_path)
    assert json.loads(refreshed.stdout)["entered"] == 0
    page = json.loads(
        run(
            database, "segments", "members", "Repeat", "--limit", "1000", "--json", cwd=tmp_path
        ).stdout
    )
    assert len(page["items"]) == repeat
    out = tmp_path / "repeat.csv"
    exported = run(database, "segments", "export", "Repeat", "-o", str(out), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert len(out.read_text().splitlines()) == repeat + 1

    emails = [m["email"] for m in page["items"][:2]]
    listing = tmp_path / "list.csv"
    listing.write_text("email\n" + "\n".join(emails) + "\nnobody@example.org\n")
    imported = run(
        database,
        "segments",
        "import-list",
        "Press",
        str(listing),
        "--create",
        "--json",
        cwd=tmp_path,
    )
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout) == {
        "added": 2,
        "removed": 0,
        "unchanged": 0,
        "not_found": ["nobody@example.org"],
        "not_found_count": 1,
    }
    listed = json.loads(run(database, "segments", "list", "--json", cwd=tmp_path).stdout)
    assert [(s["name"], s["kind"], s["member_count"]) for s in listed["items"]] == [
        ("Repeat", "dynamic", repeat),
        ("Press", "static", 2),
    ]
    builtins = run(database, "segments", "builtins", "--json", cwd=tmp_path)
    assert builtins.returncode == 0, builtins.stderr
    keys = [s["builtin"] for s in json.loads(builtins.stdout)["segments"]]
    assert keys == [
        "new",
        "repeat",
        "one_time",
        "high_value",
        "at_risk",
        "lapsed",
        "cart_abandoners",
        "vip",
    ]


def test_bad_input_exits_2_with_the_position(database: str, tmp_path: Path) -> None:
    assert run(database, "init", cwd=tmp_path).returncode == 0
    bad = run(database, "segments", "preview", "orders_count >=", "--json", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "error: query: expected a value after '>=' (a number, \"text\", an amount like 100 "
        "USD, a time like -60d, true or false), found the end of the query (at column 16)"
    )
    assert "Traceback" not in bad.stderr
    missing = run(database, "segments", "members", "Nope", cwd=tmp_path)
    assert (missing.returncode, missing.stderr.strip()) == (
        2,
        "error: segment: there is no segment named 'Nope'",
    )
    no_query = run(database, "segments", "create", "X", cwd=tmp_path)
    assert (no_query.returncode, no_query.stderr.strip()) == (
        2,
        "error: --query: give the query of a dynamic segment, or --static",
    )
    no_file = run(database, "segments", "import-list", "X", str(tmp_path / "no.csv"), cwd=tmp_path)
    assert (no_file.returncode, no_file.stderr.strip()) == (
        2,
        f"error: FILE: no such file: {tmp_path / 'no.csv'}",
    )
