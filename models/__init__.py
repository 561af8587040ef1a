"""SQLAlchemy 2 models (one module per domain) and the database handle.

Importing this package registers every table on `Base.metadata`, which Alembic compares
against the database.
"""

from models.base import Base
from models.customer import Customer, CustomerClassification, CustomerKind, LifecycleStage
from models.database import Database

__all__ = [
    "Base",
    "Customer",
    "CustomerClassification",
    "CustomerKind",
    "Database",
    "LifecycleStage",
]
