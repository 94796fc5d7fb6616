"""MANGO OFFICE VPBX protocol: notification models, signatures, API client."""
