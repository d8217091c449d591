from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.applications import Status
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_assistant')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Application',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='applications', on_delete=OnDelete.RESTRICT)),
                ('service_code', fields.CharField(db_index=True, max_length=32)),
                ('service_name', fields.CharField(max_length=128)),
                ('department', fields.CharField(db_index=True, max_length=128)),
                ('status', fields.CharEnumField(default=Status.SUBMITTED, db_index=True, description='SUBMITTED: submitted\nACCEPTED: accepted\nREVIEWING: reviewing\nRETURNED: returned\nRESUBMITTED: resubmitted\nAPPROVED: approved\nREJECTED: rejected\nCOMPLETED: completed\nCANCELLED: cancelled', enum_type=Status, max_length=16)),
                ('version', fields.IntField(default=1)),
                ('form', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('materials', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('time_limit_days', fields.IntField()),
                ('accepted_on', fields.DateField(null=True)),
                ('deadline', fields.DateField(null=True, db_index=True)),
                ('submitted_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'applications', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One application by one citizen for one service item. ``version`` guards concurrent transitions.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApplicationEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('application', fields.ForeignKeyField('models.Application', source_field='application_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('from_status', fields.CharField(null=True, max_length=16)),
                ('to_status', fields.CharField(max_length=16)),
                ('version', fields.IntField()),
                ('actor_type', fields.CharField(max_length=16)),
                ('actor_id', fields.IntField(null=True)),
                ('note', fields.TextField(default='', unique=False)),
                ('missing_materials', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'application_events', 'app': 'models', 'pk_attr': 'id', 'table_description': "One step of an application's timeline: who moved it, when, why."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('idempotency_key', fields.CharField(unique=True, max_length=128)),
                ('channel', fields.CharField(max_length=16)),
                ('user_id', fields.IntField(db_index=True)),
                ('application_id', fields.IntField(db_index=True)),
                ('event_id', fields.IntField()),
                ('payload', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('dispatched_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'outbox', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A notification to deliver, written in the same transaction as the transition that caused it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Staff',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('username', fields.CharField(unique=True, max_length=64)),
                ('password_hash', fields.CharField(max_length=256)),
                ('role', fields.CharField(max_length=16)),
                ('department', fields.CharField(null=True, max_length=128)),
                ('is_active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'staff', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An operations or service-window account. Passwords are stored as scrypt hashes.'},
            bases=['Model'],
        ),
    ]
