"""`python -m sandbox.crm.omnidesk --port 3005`: the Omnidesk sandbox on its own."""

from sandbox.crm.omnidesk.server import main

raise SystemExit(main())
