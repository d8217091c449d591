from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0010_security_state')]

    initial = False

    operations = [
        ops.AddField(
            model_name='OutboxMessage',
            name='dispatched_by',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Delivery',
            name='owner',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Delivery',
            name='claimed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
