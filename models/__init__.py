"""SQLAlchemy 2 models (one module per domain) and the database handle.

Importing this package registers every table on `Base.metadata`, which Alembic compares
against the database.
"""

from models.activity import Activity, ActivityKind
from models.base import Base
from models.channel import Channel, ChannelKind, ChannelSpend
from models.contact import Contact
from models.customer import Customer, CustomerClassification, CustomerKind, CustomerMerge, LifecycleStage
from models.database import Database
from models.event import Event, EventStream
from models.identity import ApiKey, AuthSession, LoginAttempt
from models.idempotency import IdempotencyKey
from models.opportunity import Opportunity, OpportunityStage, OpportunityStageChange
from models.programme import (
    BenefitGrant, BenefitPeriodKind, BenefitUsage, DemotionPolicy, FeePayment, Membership, OverrideKind, Programme, ProgrammeKind,
    QualifyingEntry, RuleVersion, RuleVersionStatus, Tier, TierChange, TierChangeReason, TierOverride, TrainingBooking,
    WindowKind,
)
from models.order import Order, OrderLine, OrderReturn, OrderReturnLine, OrderStatus, Product
from models.registration import DealRegistration
from models.segment import Segment
from models.user import User, UserRole
from models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "Activity", "ActivityKind", "Base", "Channel", "ChannelKind", "ChannelSpend", "Contact",
    "Customer", "CustomerClassification", "CustomerKind", "CustomerMerge", "Database",
    "LifecycleStage", "Opportunity", "OpportunityStage", "OpportunityStageChange", "Order",
    "OrderLine", "OrderReturn", "OrderReturnLine", "OrderStatus", "Product", "User", "UserRole",
    "BenefitGrant", "BenefitPeriodKind", "BenefitUsage", "DemotionPolicy", "FeePayment", "Membership", "OverrideKind", "Programme",
    "ProgrammeKind", "QualifyingEntry", "RuleVersion", "RuleVersionStatus", "Tier", "TierChange", "TierChangeReason",
    "TierOverride", "TrainingBooking", "WindowKind", "ApiKey", "AuthSession", "LoginAttempt", "Segment", "DealRegistration",
    "IdempotencyKey", "Event", "EventStream", "WebhookAttempt", "WebhookDelivery", "WebhookEndpoint",
]
