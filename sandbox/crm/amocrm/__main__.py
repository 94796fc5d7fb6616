"""`python -m sandbox.crm.amocrm --port 3002`: the amoCRM sandbox on its own."""

from sandbox.crm.amocrm.server import main

raise SystemExit(main())
