"""Operator CLI: `mango-bridge issue-admin-token --table <TableName>` after `sam deploy`."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mango-bridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    issue = commands.add_parser(
        "issue-admin-token", help="create an admin API token (only its hash is stored)"
    )
    issue.add_argument("--table", required=True, help="the stack's TableName output")
    issue.add_argument(
        "--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    issue.add_argument("--label", default="operator", help="who or what the token is for")
    args = parser.parse_args(argv)

    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    from mango_bridge.store.admin_tokens import AdminTokens

    token = AdminTokens(table=args.table).issue(args.label)
    print(token)
    print("Keep it safe: only its SHA-256 is stored, it cannot be shown again.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
