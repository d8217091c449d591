"""Tortoise ORM models, one module per domain area; the schema changes only through migrations."""

from models.applications import Application, ApplicationEvent, OutboxMessage, Staff, Status
from models.assistant import UnmatchedQuestion
from models.catalog import ServiceItem, ServiceItemChange
from models.citizen import Favourite, Rating, RecentView
from models.console import AuditEntry, Handoff, HandoffMessage, IntentRelease, IntentState, QuestionResolution
from models.notifications import Delivery, Follower, Notification, SubscriptionGrant
from models.security import RealNameAttempts, StaffLoginAttempts
from models.users import Level, RefreshToken, User

__all__ = [
    "Application",
    "ApplicationEvent",
    "AuditEntry",
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
    "ServiceItem",
    "ServiceItemChange",
    "Staff",
    "StaffLoginAttempts",
    "Status",
    "SubscriptionGrant",
    "UnmatchedQuestion",
    "User",
]
