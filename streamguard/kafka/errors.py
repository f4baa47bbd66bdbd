"""Kafka failures as the tools see them, independent of the client library.

Code outside :mod:`streamguard.kafka` and :mod:`streamguard.app` does not import aiokafka;
the Kafka helpers it calls raise these instead (see :func:`kafka_errors`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["KafkaRequestError", "KafkaUnavailableError", "kafka_errors"]


class KafkaUnavailableError(ConnectionError):
    """The Kafka cluster cannot be reached (connection refused, no broker answers)."""


class KafkaRequestError(RuntimeError):
    """Kafka answered a request with an error; the message is the client's error repr."""


@contextlib.contextmanager
def kafka_errors() -> Iterator[None]:
    """Turn the client library's errors raised inside the block into this module's.

    >>> with kafka_errors():
    ...     raise ValueError("not a Kafka error")
    Traceback (most recent call last):
    ...
    ValueError: not a Kafka error
    """
    from aiokafka.errors import KafkaConnectionError, KafkaError

    try:
        yield
    except KafkaConnectionError as exc:
        raise KafkaUnavailableError(str(exc)) from exc
    except KafkaError as exc:
        raise KafkaRequestError(repr(exc)) from exc
