"""Tortoise ORM models, one module per domain area; the schema changes only through migrations."""

from models.applications import Application, ApplicationEvent, OutboxMessage, Staff, Status
from models.assistant import UnmatchedQuestion
from models.catalog import CatalogState, Region, ServiceItem, ServiceItemChange
from models.citizen import Favourite, Rating, RecentView
from models.console import AuditEntry, Handoff, HandoffMessage, IntentRelease, IntentState, QuestionResolution
from models.notifications import Delivery, Follower, Notification, SubscriptionGrant
from models.users import Level, RefreshToken, User

__all__ = [
    "Application",
    "ApplicationEvent",
    "AuditEntry",
    "CatalogState",
    "Delivery",
    "Favourite",
    "Follower",
    "Handoff",
    "HandoffMessage",
    "IntentRelease",
    "IntentState",
    "Level",
    "Notification",
    "OutboxMessage",
    "QuestionResolution",
    "Rating",
    "RecentView",
    "RefreshToken",
    "Region",
    "ServiceItem",
    "ServiceItemChange",
    "Staff",
    "Status",
    "SubscriptionGrant",
    "UnmatchedQuestion",
    "User",
]
