from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_followers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Favourite',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='favourites', on_delete=OnDelete.CASCADE)),
                ('service_code', fields.CharField(max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'favourites', 'app': 'models', 'unique_together': (('user', 'service_code'),), 'pk_attr': 'id', 'table_description': 'A service item the citizen starred.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Rating',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('application', fields.OneToOneField('models.Application', source_field='application_id', db_constraint=True, to_field='id', related_name='rating', on_delete=OnDelete.CASCADE)),
                ('user_id', fields.IntField(db_index=True)),
                ('service_code', fields.CharField(db_index=True, max_length=32)),
                ('service_name', fields.CharField(max_length=128)),
                ('department', fields.CharField(db_index=True, max_length=128)),
                ('score', fields.SmallIntField()),
                ('reasons', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('comment', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'ratings', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A rating of one completed application, given once by its applicant. Item and department are copied for reports.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RecentView',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='recent_views', on_delete=OnDelete.CASCADE)),
                ('service_code', fields.CharField(max_length=32)),
                ('viewed_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'recent_views', 'app': 'models', 'unique_together': (('user', 'service_code'),), 'pk_attr': 'id', 'table_description': 'The last time the citizen opened an item guide (one row per user and item, the oldest pruned).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='User',
            name='elder_mode',
            field=fields.BooleanField(default=False),
        ),
    ]
