"""The Kafka clients' TLS and SASL options, from the connection settings.

The TLS context is the standard library's, built as aiokafka's ``create_ssl_context``
builds it, so configuration stays free of the Kafka client.

Examples
--------
>>> from streamguard.config import Settings
>>> client_options(Settings())
{'security_protocol': 'PLAINTEXT'}
>>> options = client_options(Settings(security_protocol="SASL_PLAINTEXT", sasl_username="u"))
>>> options["sasl_mechanism"], options["sasl_plain_username"]
('PLAIN', 'u')
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import SecretStr

__all__ = ["KafkaSecurity", "SaslMechanism", "SecurityProtocol", "client_options"]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSecurity(Protocol):
    """The settings a Kafka client's security options come from (``Settings`` has them)."""

    @property
    def security_protocol(self) -> SecurityProtocol: ...
    @property
    def ssl_cafile(self) -> Path | None: ...
    @property
    def ssl_certfile(self) -> Path | None: ...
    @property
    def ssl_keyfile(self) -> Path | None: ...
    @property
    def ssl_check_hostname(self) -> bool: ...
    @property
    def sasl_mechanism(self) -> SaslMechanism | None: ...
    @property
    def sasl_username(self) -> str | None: ...
    @property
    def sasl_password(self) -> SecretStr | None: ...


def client_options(security: KafkaSecurity) -> dict[str, Any]:
    """TLS/SASL options passed through to every aiokafka client."""
    options: dict[str, Any] = {"security_protocol": security.security_protocol}
    if security.security_protocol in ("SSL", "SASL_SSL"):
        # The standard library's context, as aiokafka's create_ssl_context builds it
        # (certificates required, system CAs unless a CA file is given): config
        # stays free of the Kafka client.
        context = ssl.create_default_context(
            cafile=str(security.ssl_cafile) if security.ssl_cafile else None
        )
        if security.ssl_certfile:
            context.load_cert_chain(
                str(security.ssl_certfile),
                str(security.ssl_keyfile) if security.ssl_keyfile else None,
            )
        context.check_hostname = security.ssl_check_hostname
        options["ssl_context"] = context
    if security.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = security.sasl_mechanism or "PLAIN"
        options["sasl_plain_username"] = security.sasl_username
        options["sasl_plain_password"] = (
            security.sasl_password.get_secret_value() if security.sasl_password else None
        )
    return options
