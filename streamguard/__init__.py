"""StreamGuard: an always-on streaming data-quality monitor for e-commerce events on Kafka."""

__all__ = ["__version__"]

__version__ = "0.1.0"
