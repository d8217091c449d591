"""Tortoise ORM models, one module per domain area; the schema changes only through migrations."""

from models.assistant import UnmatchedQuestion
from models.catalog import ServiceItem, ServiceItemChange
from models.users import Level, RefreshToken, User

__all__ = ["Level", "RefreshToken", "ServiceItem", "ServiceItemChange", "UnmatchedQuestion", "User"]
