"""Tortoise ORM models, one module per domain area; the schema changes only through migrations."""

from models.applications import Application, ApplicationEvent, Status
from models.assistant import UnmatchedQuestion
from models.auth import Level, RealNameAttempts, RefreshToken, User
from models.catalog import CatalogState, Region, ServiceItem, ServiceItemChange
from models.citizen import Favourite, Rating, RecentView
from models.console import (
    AuditEntry,
    Handoff,
    HandoffMessage,
    IntentRelease,
    IntentState,
    QuestionResolution,
    Staff,
    StaffLoginAttempts,
)
from models.notifications import Delivery, Notification, OutboxMessage, SubscriptionGrant
from models.official_account import Follower

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
    "RealNameAttempts",
    "RecentView",
    "RefreshToken",
    "Region",
    "ServiceItem",
    "ServiceItemChange",
    "Staff",
    "StaffLoginAttempts",
    "Status",
    "SubscriptionGrant",
    "UnmatchedQuestion",
    "User",
]
