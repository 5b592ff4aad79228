"""The model service: every front end (GUI, CLI, HTTP server) uses models through it.

``ModelService`` owns *slots*: one worker per (engine, model, device), loaded on first use, with a bounded
queue of requests, cancel, restart after a crash, TTL unload and LRU eviction under a memory budget.
"""

from app.service.events import Finished, Loaded, Loading, Queued, ServiceEvent, SlotChanged
from app.service.keys import LoadSpec, SlotKey
from app.service.model_service import ModelService, ServiceBusy
from app.service.tickets import Ticket

__all__ = ["Finished", "LoadSpec", "Loaded", "Loading", "ModelService", "Queued", "ServiceBusy",
           "ServiceEvent", "SlotChanged", "SlotKey", "Ticket"]
