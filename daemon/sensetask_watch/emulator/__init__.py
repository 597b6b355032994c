"""A faithful local SenseTask API over real HTTP: the other side of the wire.

Used by the tests, the demo, and users rehearsing their setup. It shares no
code with the client half of sensetask_watch, on purpose: a misreading of the
API in one half must not be silently mirrored in the other.

    from sensetask_watch.emulator import Emulator, Faults
    with Emulator(api_keys=("test-key",), processing_seconds=0.3) as emu:
        client_base_url = emu.url          # http://127.0.0.1:PORT/api/v1
        emu.faults.error_rate = 0.1        # misbehave on purpose
        ...
        emu.documents(); emu.duplicate_count()

Modules, by role:
  app.py       Emulator: life cycle, records, set_status
  server.py    HTTP mechanics: bodies, keep-alive, faults applied
  routes.py    which endpoint serves a method and path (pure)
  api.py       what each endpoint means; request validation (pure)
  store.py     state (slots, jobs, documents, logs) behind one lock; status timeline (pure)
  signing.py   signed storage URLs
  faults.py    fault switches and the per-request decision (pure, given an RNG)
  webhooks.py  background delivery of document.processed events
  cli.py       `sensetask-watch emulator` / `python -m sensetask_watch.emulator`

Endpoints: POST /api/v1/files/, PUT /storage/<slot>?expires=&signature=,
POST /api/v1/jobs/, POST /api/v1/documents/batch/<jobId>/,
GET /api/v1/documents/<id>/beta/; control (no ApiKey): GET /_emulator/records,
GET|POST /_emulator/faults, POST /_emulator/documents/<id>/status.
"""

from .app import DEFAULT_STATUS_RULES, Emulator
from .faults import Faults

__all__ = ["DEFAULT_STATUS_RULES", "Emulator", "Faults"]
