from django.db import models


class Ledger(models.Model):
    """One row per event a test task records (start, finish), read back by tests."""

    execution_id = models.CharField(max_length=64, db_index=True)
    task = models.CharField(max_length=100)
    event = models.CharField(max_length=32)
    attempt = models.IntegerField(default=0)
    pid = models.IntegerField(default=0)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "taskapp"
