"""The 01:00 MSK missing-call sync: Mango's statistics for a day against what reached the CRM."""
