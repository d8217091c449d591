from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_outbox_delivered')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Follower',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('openid', fields.CharField(unique=True, max_length=64)),
                ('unionid', fields.CharField(null=True, db_index=True, max_length=64)),
                ('user_id', fields.IntField(null=True, db_index=True)),
                ('subscribed', fields.BooleanField(default=True)),
                ('subscribed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('unsubscribed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'followers', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A follower of the official account, linked to a mini-program user by unionid when WeChat supplies it.'},
            bases=['Model'],
        ),
    ]
