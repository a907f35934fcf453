"""Delivery: webhook signing, the retry schedule, and the sender.

Producers call `enqueue_document` / `enqueue_client_event` inside their own transaction; a
`Sender` in every Rookery process posts what is due.
"""

from rookery.delivery.events import ClientEvent, EventLevel
from rookery.delivery.queue import enqueue_client_event, enqueue_document

__all__ = ["ClientEvent", "EventLevel", "enqueue_client_event", "enqueue_document"]
