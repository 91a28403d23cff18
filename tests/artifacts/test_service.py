"""Artifacts: versions per kind, one active, payload round trip, rollback by activation."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from patron.artifacts import service
from patron.core.errors import NotFound, ValidationError


def test_versions_count_per_kind_and_the_newest_is_active(session: Session) -> None:
    first = service.save(session, kind="clv", payload=b"one", format="npz", card={"mae": 1.5})
    second = service.save(session, kind="clv", payload=b"two!", format="npz")
    other = service.save(session, kind="recs", payload=b"x", format="json")

    assert (first.version, second.version, other.version) == (1, 2, 1)
    active = service.load_active(session, kind="clv")
    assert active is not None
    assert (active.version, active.payload, active.size_bytes) == (2, b"two!", 4)
    listed = [(a.kind, a.version, a.active, a.size_bytes) for a in service.list_versions(session)]
    assert listed == [("clv", 2, True, 4), ("clv", 1, False, 3), ("recs", 1, True, 1)]


def test_activating_an_older_version_rolls_back(session: Session) -> None:
    service.save(session, kind="clv", payload=b"one", format="npz", card={"mae": 1.5})
    service.save(session, kind="clv", payload=b"two", format="npz")

    service.activate_version(session, kind="clv", version=1)

    active = service.load_active(session, kind="clv")
    assert active is not None
    assert (active.version, active.payload, active.card) == (1, b"one", {"mae": 1.5})
    assert service.load(session, kind="clv", version=2).active is False


def test_saving_without_activation_keeps_the_active_one(session: Session) -> None:
    service.save(session, kind="clv", payload=b"one", format="npz")
    candidate = service.save(session, kind="clv", payload=b"two", format="npz", activate=False)

    active = service.load_active(session, kind="clv")
    assert active is not None
    assert (candidate.active, active.version) == (False, 1)


def test_unknown_kind_and_version(session: Session) -> None:
    assert service.load_active(session, kind="nothing") is None
    with pytest.raises(NotFound) as err:
        service.load(session, kind="clv", version=9)
    assert err.value.field == "version"
    with pytest.raises(ValidationError) as bad:
        service.save(session, kind="", payload=b"", format="npz")
    assert bad.value.field == "kind"
