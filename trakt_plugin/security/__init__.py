"""Who may use the service: client addresses, login throttling, dashboard sessions, and the
HTTP guards in front of every request (Host allow-list, security headers, API token first).
"""
