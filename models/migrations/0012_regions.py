from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

# Regions: item codes carry their GB/T 2260 region, names are unique within a region (not across
# regions), users choose a region, applications keep their item's region, and a catalog version
# lets workers notice a change they missed.
class Migration(migrations.Migration):
    dependencies = [('models', '0011_delivery_claims')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CatalogState',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('version', fields.IntField(default=0)),
            ],
            options={'table': 'catalog_state', 'app': 'models', 'pk_attr': 'id', 'table_description': "One row: the catalog's version, raised by every load that changes it (workers compare it to their own)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Region',
            fields=[
                ('code', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=6)),
                ('name', fields.CharField(max_length=64)),
                ('parent', fields.CharField(null=True, max_length=6)),
            ],
            options={'table': 'regions', 'app': 'models', 'pk_attr': 'code', 'table_description': 'An administrative region (GB/T 2260): province, city or county, with its parent (000000: 全国).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Application',
            name='region',
            field=fields.CharField(default='', max_length=6),
        ),
        ops.AlterField(
            model_name='ServiceItem',
            name='name',
            field=fields.CharField(max_length=128),
        ),
        ops.AddField(
            model_name='ServiceItem',
            name='guide_url',
            field=fields.CharField(default='', max_length=512),
        ),
        ops.AddField(
            model_name='ServiceItem',
            name='region',
            field=fields.CharField(default='440000', db_index=True, max_length=6),
        ),
        ops.AddField(
            model_name='ServiceItem',
            name='task_type',
            field=fields.CharField(default='', max_length=32),
        ),
        ops.RunSQL(
            [
                "UPDATE service_items SET region = substr(code, 1, 6)",
                "UPDATE applications SET region = substr(service_code, 1, 6)",
            ],
            reverse_sql=[],
        ),
        ops.AddConstraint(
            model_name='ServiceItem',
            constraint=UniqueConstraint(fields=('region', 'name'), name=None),
        ),
        ops.AddField(
            model_name='Follower',
            name='region',
            field=fields.CharField(null=True, max_length=6),
        ),
        ops.AddField(
            model_name='Follower',
            name='region_asked',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='User',
            name='region',
            field=fields.CharField(null=True, max_length=6),
        ),
    ]
