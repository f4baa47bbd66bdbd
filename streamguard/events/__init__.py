"""Event schemas: pydantic models (the authority) and the JSON Schema files made from them."""

from streamguard.events.models import BehaviorEvent, ProductEvent

__all__ = ["BehaviorEvent", "ProductEvent"]
