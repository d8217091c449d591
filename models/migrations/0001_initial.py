from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.auth import Level
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ServiceItem',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(unique=True, max_length=128)),
                ('aliases', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('department', fields.CharField(db_index=True, max_length=128)),
                ('level', fields.CharField(max_length=16)),
                ('category', fields.CharField(db_index=True, max_length=32)),
                ('life_events', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('applicant_type', fields.CharField(db_index=True, max_length=8)),
                ('conditions', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('materials', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('steps', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('legal_time_limit_days', fields.IntField()),
                ('promised_time_limit_days', fields.IntField()),
                ('fee', fields.TextField(unique=False)),
                ('online_level', fields.CharField(db_index=True, max_length=16)),
                ('max_visits', fields.IntField()),
                ('offline_locations', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('legal_basis', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('keywords', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('training_phrases', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('search_text', fields.TextField(unique=False)),
                ('life_events_text', fields.CharField(max_length=512)),
                ('content_hash', fields.CharField(max_length=64)),
                ('version', fields.IntField(default=1)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'service_items', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A service item (事项) with its one standard description. List fields are JSON.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ServiceItemChange',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(db_index=True, max_length=32)),
                ('version', fields.IntField()),
                ('action', fields.CharField(max_length=16)),
                ('changed_fields', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('source', fields.CharField(max_length=256)),
                ('changed_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'service_item_changes', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One change of an item: which version, which fields, from where.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('openid', fields.CharField(unique=True, max_length=64)),
                ('unionid', fields.CharField(null=True, db_index=True, max_length=64)),
                ('level', fields.CharEnumField(default=Level.L1, description='L1: L1\nL2: L2', enum_type=Level, max_length=4)),
                ('real_name_enc', fields.TextField(null=True, unique=False)),
                ('real_name_mask', fields.CharField(null=True, max_length=64)),
                ('id_number_enc', fields.TextField(null=True, unique=False)),
                ('id_number_mask', fields.CharField(null=True, max_length=32)),
                ('id_number_index', fields.CharField(null=True, unique=True, max_length=64)),
                ('phone_enc', fields.TextField(null=True, unique=False)),
                ('phone_mask', fields.CharField(null=True, max_length=32)),
                ('verified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'users', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A citizen. Name, ID number and phone are stored only encrypted, with masks for display.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('jti', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('family', fields.CharField(db_index=True, max_length=64)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='refresh_tokens', on_delete=OnDelete.CASCADE)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'refresh_tokens', 'app': 'models', 'pk_attr': 'jti', 'table_description': 'One issued refresh token. Tokens rotated from one login share a family, and reuse revokes it.'},
            bases=['Model'],
        ),
    ]
