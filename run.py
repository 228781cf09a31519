#!/usr/bin/env python3
"""Palm Hospital: the one entry point.

    python run.py [serve]        the app (and, without MONGODB_URI, the embedded database)
    python run.py db             the embedded database alone
    python run.py worker         background jobs alone
    python run.py seed-demo      load the demo hospital group (idempotent)
    python run.py create-staff   add a staff account
"""

from server.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
