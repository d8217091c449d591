from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_deadline_estimated')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RealNameAttempts',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.IntField()),
                ('day', fields.DateField()),
                ('attempts', fields.SmallIntField(default=0)),
            ],
            options={'table': 'real_name_attempts', 'app': 'models', 'unique_together': (('user_id', 'day'),), 'pk_attr': 'id', 'table_description': 'Real-name checks a citizen started on one day (Beijing time): five failed ones lock that day.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffLoginAttempts',
            fields=[
                ('username', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('attempts', fields.SmallIntField(default=0)),
                ('last_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'staff_login_attempts', 'app': 'models', 'pk_attr': 'username', 'table_description': 'Console logins tried under one username (known or not) and not yet followed by a success.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Staff',
            name='totp_last_step',
            field=fields.BigIntField(null=True),
        ),
    ]
