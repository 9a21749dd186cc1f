"""The Celery app: tasks are thin wrappers around services (see CONVENTIONS.md)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("csu_hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
