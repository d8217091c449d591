from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='UnmatchedQuestion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('text', fields.CharField(max_length=500)),
                ('action', fields.CharField(max_length=16)),
                ('channel', fields.CharField(max_length=16)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'unmatched_questions', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A question answered with a fallback, normalised, never linked to who asked.'},
            bases=['Model'],
        ),
    ]
