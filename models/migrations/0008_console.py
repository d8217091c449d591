from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_citizen_features')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('staff_id', fields.IntField(null=True, db_index=True)),
                ('staff_username', fields.CharField(max_length=64)),
                ('action', fields.CharField(db_index=True, max_length=64)),
                ('target', fields.CharField(default='', max_length=128)),
                ('before', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('after', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('ip', fields.CharField(default='', max_length=64)),
                ('request_id', fields.CharField(default='', max_length=64)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'audit_log', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One write by a staff member: who, what, the state before and after, when.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Handoff',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=16)),
                ('session_id', fields.CharField(db_index=True, max_length=64)),
                ('user_id', fields.IntField(null=True, db_index=True)),
                ('openid', fields.CharField(null=True, max_length=64)),
                ('reason', fields.CharField(max_length=16)),
                ('status', fields.CharField(default='queued', db_index=True, max_length=16)),
                ('agent_id', fields.IntField(null=True)),
                ('agent_username', fields.CharField(null=True, max_length=64)),
                ('context', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('version', fields.IntField(default=1)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'handoffs', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A chat handed to a human agent, with the case context captured when it was queued.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HandoffMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('handoff', fields.ForeignKeyField('models.Handoff', source_field='handoff_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('sender', fields.CharField(max_length=16)),
                ('staff_id', fields.IntField(null=True)),
                ('text_enc', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'handoff_messages', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One message of a handed-off chat. The text is encrypted at rest (citizens type personal details).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IntentRelease',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('number', fields.IntField(unique=True)),
                ('data', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('checksum', fields.CharField(max_length=64)),
                ('note', fields.CharField(default='', max_length=500)),
                ('replay', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_by', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'intent_releases', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An immutable published snapshot of the governed intent data.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IntentState',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('live_number', fields.IntField(null=True)),
                ('draft', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('draft_version', fields.IntField(default=0)),
                ('draft_base', fields.IntField(null=True)),
                ('updated_by', fields.CharField(default='', max_length=64)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'intent_state', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The single row naming the live release and holding the working draft (version guards concurrent edits).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='QuestionResolution',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('text', fields.CharField(unique=True, max_length=500)),
                ('decision', fields.CharField(max_length=16)),
                ('detail', fields.CharField(default='', max_length=200)),
                ('staff_id', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'question_resolutions', 'app': 'models', 'pk_attr': 'id', 'table_description': 'What staff decided about an unmatched question text (turned into data, or dismissed).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Staff',
            name='totp_secret',
            field=fields.CharField(null=True, max_length=256),
        ),
    ]
