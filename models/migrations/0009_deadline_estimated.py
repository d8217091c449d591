from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_console')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Application',
            name='deadline_estimated',
            field=fields.BooleanField(default=False),
        ),
    ]
