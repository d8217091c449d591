from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_applications')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Delivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('idempotency_key', fields.CharField(unique=True, max_length=128)),
                ('outbox_id', fields.BigIntField()),
                ('channel', fields.CharField(max_length=16)),
                ('status', fields.CharField(db_index=True, max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('detail', fields.CharField(default='', max_length=256)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'deliveries', 'app': 'models', 'pk_attr': 'id', 'table_description': 'What became of one outbox message on its channel: sent, skipped, refused, uncertain or dead.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('idempotency_key', fields.CharField(unique=True, max_length=128)),
                ('user_id', fields.IntField(db_index=True)),
                ('application_id', fields.IntField(null=True)),
                ('title', fields.CharField(max_length=128)),
                ('body', fields.TextField(unique=False)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'notifications', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An in-app message. It always exists, whatever happens on the WeChat side.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SubscriptionGrant',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.IntField(db_index=True)),
                ('template_id', fields.CharField(max_length=64)),
                ('long_term', fields.BooleanField(default=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'subscription_grants', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A subscribe-message authorisation from wx.requestSubscribeMessage. A one-time grant is used up once.'},
            bases=['Model'],
        ),
    ]
