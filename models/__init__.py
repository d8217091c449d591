"""Tortoise ORM models, one module per domain area; the schema changes only through migrations."""

from models.applications import Application, ApplicationEvent, OutboxMessage, Staff, Status
from models.assistant import UnmatchedQuestion
from models.catalog import ServiceItem, ServiceItemChange
from models.notifications import Delivery, Follower, Notification, SubscriptionGrant
from models.users import Level, RefreshToken, User

__all__ = [
    "Application",
    "ApplicationEvent",
    "Delivery",
    "Follower",
    "Level",
    "Notification",
    "OutboxMessage",
    "RefreshToken",
    "ServiceItem",
    "ServiceItemChange",
    "Staff",
    "Status",
    "SubscriptionGrant",
    "UnmatchedQuestion",
    "User",
]
