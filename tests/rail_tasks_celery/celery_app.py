"""The test project's Celery apps, configured the usual Django way (``CELERY_*`` settings).

``app`` uses Redis (``CELERY_BROKER_URL``); ``amqp_app`` the same settings on RabbitMQ.
"""

from __future__ import annotations

import os

from celery import Celery
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

app = Celery("rail_tasks_tests")
app.config_from_object("django.conf:settings", namespace="CELERY")

amqp_app = Celery("rail_tasks_tests_amqp")
amqp_app.config_from_object("django.conf:settings", namespace="CELERY")
amqp_app.conf.broker_url = settings.CELERY_AMQP_BROKER_URL
amqp_app.conf.broker_transport_options = {}
