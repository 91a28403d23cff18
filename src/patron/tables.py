"""Imports every domain's models so that `Base.metadata` is complete (for Alembic)."""

from patron.analytics import models as analytics_models
from patron.artifacts import models as artifacts_models
from patron.auth import models as auth_models
from patron.catalog import models as catalog_models
from patron.customers import models as customers_models
from patron.db import Base
from patron.events import models as events_models
from patron.integrations import models as integrations_models
from patron.jobs import models as jobs_models
from patron.orders import models as orders_models
from patron.predictive import models as predictive_models
from patron.recommendations import models as recommendations_models
from patron.segments import models as segments_models
from patron.store import models as store_models

__all__ = [
    "Base",
    "analytics_models",
    "artifacts_models",
    "auth_models",
    "catalog_models",
    "customers_models",
    "events_models",
    "integrations_models",
    "jobs_models",
    "orders_models",
    "predictive_models",
    "recommendations_models",
    "segments_models",
    "store_models",
]
