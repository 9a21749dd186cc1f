"""Settings for the ``-fixed`` variants of ``benchmarks/fanout.py`` (never used by the hub).

``config.settings`` with one change, a fix the benchmark proposes: the channel
layer's Redis connections get a read timeout longer than channels_redis' blocking
pop. redis-py 8 reads with a 5 s ``socket_timeout`` by default; channels_redis'
``RedisChannelLayer.receive`` blocks in ``BZPOPMIN`` for up to ``brpop_timeout``
= 5 s, so an idle Daphne races the two and a consumer dies with
``redis.exceptions.TimeoutError: Timeout reading from 127.0.0.1:6379`` (close 1011)
after 5 to 10 s without traffic.

Run Daphne with ``DJANGO_SETTINGS_MODULE=benchmarks.fanout_settings`` from the
repository root; ``fanout.py --layers core-fixed,pubsub-fixed`` does it.

``FANOUT_LAYER_BACKEND``, when set, replaces the channel layer's class (``fanout.py --layers
pubsub-lib``: channels_redis' own ``RedisPubSubChannelLayer`` beside the hub's subclass).
"""

from __future__ import annotations

import copy
import os

from config.settings import *  # noqa: F403
from config.settings import CHANNEL_LAYERS as BASE_CHANNEL_LAYERS

SOCKET_TIMEOUT = float(os.environ.get("FANOUT_REDIS_SOCKET_TIMEOUT", "15"))


def with_socket_timeout(hosts: list) -> list[dict]:
    """The same hosts, each with ``socket_timeout`` above the 5 s blocking pop."""
    return [{**(h if isinstance(h, dict) else {"address": h}), "socket_timeout": SOCKET_TIMEOUT}
            for h in hosts]


CHANNEL_LAYERS = copy.deepcopy(BASE_CHANNEL_LAYERS)  # config.settings' own dict stays as it is
_config = CHANNEL_LAYERS["default"]["CONFIG"]
_config["hosts"] = with_socket_timeout(_config["hosts"])
if os.environ.get("FANOUT_LAYER_BACKEND"):
    CHANNEL_LAYERS["default"]["BACKEND"] = os.environ["FANOUT_LAYER_BACKEND"]
