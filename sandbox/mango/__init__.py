"""MANGO OFFICE sandbox: a scenario player that plays the PBX's webhooks, and the PBX's own API.

`player` turns hand-written scenario files into signed deliveries; `api` answers the requests the
bridge makes to `https://app.mango-office.ru/vpbx/`.
"""
