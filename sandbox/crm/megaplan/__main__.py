"""`python -m sandbox.crm.megaplan --port 3004`: the Megaplan sandbox alone, until Ctrl-C."""

from __future__ import annotations

import argparse

from sandbox.crm.megaplan import MegaplanSandbox

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=3004)
args = parser.parse_args()
sandbox = MegaplanSandbox(args.host, args.port).start()
print(f"Megaplan sandbox on {sandbox.url}", flush=True)
sandbox.run_until_interrupted()
