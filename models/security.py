"""Security decisions that must outlive Redis: real-name attempts per day and failed staff logins.

Redis loses its data on a flush or a restart without persistence; a lockout kept only there ends
with it. These rows are the record; each check is one conditional UPDATE (an atomic claim), so
parallel requests cannot slip past a limit between a read and a write.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class RealNameAttempts(Model):
    """Real-name checks a citizen started on one day (Beijing time): five failed ones lock that day."""

    id = fields.IntField(primary_key=True)
    user_id = fields.IntField()
    day = fields.DateField()
    attempts = fields.SmallIntField(default=0)

    class Meta:
        table = "real_name_attempts"
        unique_together = (("user_id", "day"),)


class StaffLoginAttempts(Model):
    """Console logins tried under one username (known or not) and not yet followed by a success."""

    username = fields.CharField(max_length=64, primary_key=True)
    attempts = fields.SmallIntField(default=0)
    last_attempt_at = fields.DatetimeField()

    class Meta:
        table = "staff_login_attempts"
