"""`python -m sandbox.crm.bpmsoft --port 3003`: the BPMSoft sandbox on its own."""

from sandbox.crm.bpmsoft.server import main

raise SystemExit(main())
