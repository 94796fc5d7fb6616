import sys

from sandbox.stack.cli import main

sys.exit(main())
