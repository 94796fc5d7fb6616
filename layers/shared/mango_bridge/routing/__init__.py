"""Smart routing while the caller hears the greeting (F24–F26).

Pure code: what a rule reads (`inputs`), how conditions compare (`rules`), where a call goes
(`decision`) and whether a line's scheme leaves time to route (`greeting`). `service` wires these to
the stores and clients it is handed; nothing here imports AWS or HTTP code.
"""
