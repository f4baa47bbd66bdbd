"""The demo's webhook receiver: loopback only, verifies signatures, keeps the bodies."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from streamguard.devtools.webhook_sink import WebhookSink, sign


def _post(url: str, body: bytes, signature: str | None) -> int:
    headers = {"X-StreamGuard-Signature": signature} if signature else {}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_only_signed_json_objects_are_kept() -> None:
    with WebhookSink("secret", clock=lambda: 7.0) as sink:
        assert sink.url.startswith("http://127.0.0.1:")
        body = b'{"status": "resolved", "stream": "product"}'
        assert _post(sink.url, body, sign(body, "secret")) == 204
        assert _post(sink.url, body, sign(body, "other")) == 401
        assert _post(sink.url, body, None) == 401
        assert _post(sink.url, b"[1]", sign(b"[1]", "secret")) == 400
        assert sink.drain() == [(7.0, {"status": "resolved", "stream": "product"})]
        assert sink.drain() == []
        assert (sink.received, sink.rejected) == (1, 3)


def test_a_stopped_sink_refuses_connections() -> None:
    sink = WebhookSink("s").start()
    url = sink.url
    sink.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)  # noqa: S310
