"""Deleting an agent (a Worker or the Manager): its instances, gateway consumer, Matrix
account, optionally its storage, its tokens, then its row. A failure keeps the row, says
what deletion waits for, and retries with backoff."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings

from controller import naming
from controller.backends.base import BackendError
from controller.clients.gateway import GatewayError
from controller.clients.matrix import MatrixError
from controller.clients.storage import StorageError
from controller.models import AgentResource, AgentToken
from controller.reconcilers.base import Result, retry_failed

if TYPE_CHECKING:
    from controller.reconcilers.agent import AgentReconciler

logger = logging.getLogger(__name__)


def delete_agent(reconciler: AgentReconciler[Any], agent: AgentResource) -> Result:
    connections, kind = reconciler.connections, reconciler.kind
    try:
        for instance in reconciler.instances_to_delete(agent):
            connections.backend.delete(instance)
        if connections.gateway.enabled:
            consumer = naming.consumer_name(kind, agent.name)
            connections.gateway.revoke_mcp(consumer, agent.typed_spec.mcp_servers or [])
            connections.gateway.delete_consumer(consumer)
        if connections.matrix is not None and agent.matrix_user_id:
            connections.matrix.deactivate(connections.matrix_admin(), agent.matrix_user_id)
        if settings.HICLAW_DELETE_STORAGE_ON_DELETE:
            connections.storage.delete_prefix(naming.storage_prefix(kind, agent.name))
    except (BackendError, GatewayError, MatrixError, StorageError) as error:
        agent.failures += 1
        agent.message = f"deletion waits: {error}"
        reconciler.save(agent)
        return retry_failed(agent.failures)
    identity, _ = reconciler.identity(agent)
    AgentToken.objects.revoke_agent(identity, agent.name)
    agent.delete()
    logger.info("%s/%s: deleted", kind, agent.name)
    return Result()
