"""The local API gateway (``dynab gateway``): API Gateway's cache and metrics, emulated.

* :mod:`server` -- the HTTP server on 127.0.0.1 serving ``GET /select``;
* :mod:`cache` -- the TTL + LRU response cache keyed by both query parameters;
* :mod:`recorder` -- per-minute counters and the selector's log lines, flushed to MongoDB;
* :mod:`stats` -- reading those figures back (cache hit ratio, latency, model counts);
* :mod:`schema` -- the collections they live in.
"""
