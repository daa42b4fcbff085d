from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("changes", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="deployment",
            name="during_freeze",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="deployment",
            name="flag",
            field=models.CharField(blank=True, max_length=500),
        ),
    ]
