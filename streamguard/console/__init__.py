"""``streamguard console``: a read-only web console over StreamGuard's own topics.

:mod:`~streamguard.console.store` keeps a bounded view of the topics (pure; what it keeps
of each record: :mod:`~streamguard.console.entries`),
:mod:`~streamguard.console.views` turns it into page models (pure),
:mod:`~streamguard.console.svg` draws charts, :mod:`~streamguard.console.prometheus`
asks Prometheus for the last hour, :mod:`~streamguard.console.web` is the aiohttp app and
:mod:`~streamguard.console.server` wires it to a broker and serves it. Kafka I/O lives in
:mod:`streamguard.kafka.recent`.
"""

from streamguard.console.store import ConsoleStore, TopicRoles
from streamguard.console.web import BasicAuth, make_app

__all__ = ["BasicAuth", "ConsoleStore", "TopicRoles", "make_app"]
