"""Local stand-ins for everything the bridge talks to: the Mango PBX, the CRMs, the AWS stack.

Never deployed; used by tests, the local stack and people trying the bridge by hand.
"""
