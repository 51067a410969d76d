"""Matrix access tokens the controller keeps are ciphertext in the database, and survive a key rotation."""

from __future__ import annotations

import importlib
import logging
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from controller.models import DebugWorker, Worker

pytestmark = pytest.mark.django_db

TOKEN = "syt_aGljbGF3LWJvdA_secretsecretsecret_1a2b3c"
encryption_migration = importlib.import_module("controller.migrations.0003_encrypt_matrix_access_tokens")


def raw_token(model, pk: int) -> str:
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(model._meta.db_table)  # from the model, not from input
        cursor.execute(f"SELECT matrix_access_token FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def stored_worker(apply) -> Worker:
    apply("apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: bot}\nspec: {model: qwen}\n")
    worker = Worker.objects.get(name="bot")
    worker.matrix_access_token = TOKEN
    worker.save(update_fields=["matrix_access_token"])
    return worker


def test_a_workers_matrix_token_is_ciphertext_in_the_database(apply):
    worker = stored_worker(apply)
    stored = raw_token(Worker, worker.pk)
    assert TOKEN not in stored
    assert stored.startswith("gAAAAA")  # a Fernet token
    assert Worker.objects.get(pk=worker.pk).matrix_access_token == TOKEN
    assert Worker.objects.filter(pk=worker.pk).values_list("matrix_access_token", flat=True)[0] == TOKEN


def test_an_empty_token_stays_empty(apply):
    apply("apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: bot}\nspec: {model: qwen}\n")
    worker = Worker.objects.get(name="bot")
    assert raw_token(Worker, worker.pk) == ""
    assert worker.matrix_access_token == ""


def test_a_debugworkers_credential_is_ciphertext_too():
    debug = DebugWorker.objects.create(name="dbg", spec={"targets": ["a"]}, matrix_access_token=TOKEN)
    assert TOKEN not in raw_token(DebugWorker, debug.pk)
    assert DebugWorker.objects.get(pk=debug.pk).matrix_access_token == TOKEN


def test_tokens_read_after_a_key_rotation_while_the_old_key_is_a_fallback(apply, settings):
    worker = stored_worker(apply)
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-brand-new-secret-key-" + "x" * 40, [old_key]
    assert Worker.objects.get(pk=worker.pk).matrix_access_token == TOKEN
    # Saved again, the row is written under the new key and no longer needs the old one.
    Worker.objects.get(pk=worker.pk).save()
    settings.SECRET_KEY_FALLBACKS = []
    assert Worker.objects.get(pk=worker.pk).matrix_access_token == TOKEN


def test_a_token_under_a_forgotten_key_reads_as_no_token_with_a_warning(apply, settings, caplog):
    worker = stored_worker(apply)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "an-unrelated-secret-key-" + "y" * 40, []
    with caplog.at_level(logging.WARNING, logger="controller.models.fields"):
        assert Worker.objects.get(pk=worker.pk).matrix_access_token == ""
    assert "DJANGO_SECRET_KEY_FALLBACKS" in caplog.text
    assert TOKEN not in caplog.text


def test_the_migration_encrypts_tokens_stored_in_clear_text(apply):
    worker = stored_worker(apply)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE controller_worker SET matrix_access_token = %s WHERE id = %s", [TOKEN, worker.pk])
    # The migration's function uses only its schema editor's connection (SQLite refuses a
    # real schema editor inside the test's transaction).
    encryption_migration.encrypt_stored_tokens(apps, SimpleNamespace(connection=connection))
    assert TOKEN not in raw_token(Worker, worker.pk)
    assert Worker.objects.get(pk=worker.pk).matrix_access_token == TOKEN
