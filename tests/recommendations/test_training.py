"""Training: versions in the database, serving reloads, the job, the schedule, the payload."""

from __future__ import annotations

import io

import numpy as np
from sqlalchemy.orm import Session

from patron.artifacts import service as artifacts_service
from patron.jobs import handlers, worker
from patron.jobs import service as jobs_service
from patron.recommendations import service
from patron.recommendations.schemas import ARTIFACT_KIND, TRAIN_JOB, TRAIN_SCHEDULE
from patron.wiring import wire
from tests.recommendations.conftest import ORDERS, Store, add_views


def test_versions_and_serving_follows_the_active_one(session: Session, store: Store) -> None:
    s = store
    first = service.train(session)
    assert first.version == 1
    assert service.trending(session).model_version == 1
    add_views(session, s, "ann", ["kettle"], 21)
    second = service.train(session)
    assert second.version == 2
    assert [(m.version, m.active) for m in service.models(session)] == [(2, True), (1, False)]
    assert service.trending(session).model_version == 2
    service.activate(session, version=1)  # roll back: the next request serves version 1
    assert service.trending(session).model_version == 1


def test_the_model_card_and_payload(session: Session, store: Store) -> None:
    result = service.train(session)
    card = result.card
    assert card["data"] == {
        "purchases": sum(len(skus) for _, _, skus in ORDERS),
        "views": 0,
        "customers": 13,
        "products": 11,
        "trained_until": card["data"]["trained_until"],
    }
    assert card["params"]["min_support"] == 2
    assert card["method"]["adr"] == "docs/adr/0012-recommendations.md"
    artifact = artifacts_service.load_active(session, kind=ARTIFACT_KIND)
    assert artifact is not None
    assert artifact.format == "npz"
    with np.load(io.BytesIO(artifact.payload), allow_pickle=False) as z:  # no pickle inside
        assert z["item_ids"].tolist() == sorted(store.products.values())
        assert str(z["method"][0]) == "ease"


def test_training_runs_as_a_job_on_demand_and_on_a_schedule(session: Session, store: Store) -> None:
    wire()
    assert handlers.HANDLERS[TRAIN_JOB].__module__ == "patron.recommendations.tasks"
    spec = handlers.SCHEDULES[TRAIN_SCHEDULE]
    assert (spec.kind, spec.every_seconds) == (TRAIN_JOB, 86400)
    job_id = service.request_training(session)
    assert job_id is not None
    assert service.request_training(session) is None  # one queued training at a time
    session.commit()
    claimed = jobs_service.claim(session, worker_id="w1", kinds=[TRAIN_JOB])
    session.commit()
    assert [j.id for j in claimed] == [job_id]
    stats = worker.WorkerStats()
    worker.run_one(claimed[0], "w1", stats)
    assert stats.done == 1
    assert jobs_service.get(session, job_id=job_id).status.value == "done"
    assert [(m.version, m.active) for m in service.models(session)] == [(1, True)]
