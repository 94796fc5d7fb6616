"""The local stack: the deployed architecture on a laptop, without AWS and without Docker."""
