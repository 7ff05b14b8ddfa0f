"""httpx's one-call functions (``get``, ``post``, …) without their per-call TLS set-up.

Each of ``httpx.get`` and the like builds a client, and with it a TLS context that loads the CA bundle:
about 40 ms of CPU per call, though the servers tests talk to are plain HTTP on loopback. These are the
same functions, each still on a client of its own (no connection or cookie kept between calls), given
one TLS context made once.
"""

from __future__ import annotations

import ssl
from functools import partial

import httpx

_TLS = ssl.create_default_context()

request = partial(httpx.request, verify=_TLS)
get = partial(httpx.get, verify=_TLS)
post = partial(httpx.post, verify=_TLS)
put = partial(httpx.put, verify=_TLS)
patch = partial(httpx.patch, verify=_TLS)
delete = partial(httpx.delete, verify=_TLS)
