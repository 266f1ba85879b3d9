"""Names that several layers use, defined once: the Zeek logs hermit reads, the directions a
session can have, and what an unclassified session is called."""

ZEEK_TABLES = ("conn", "dns", "ssl", "http")

# direction of a session relative to the monitored networks (assets/categorised/direction.py)
DIRECTIONS = ("outbound", "inbound", "internal", "transit")
MONITORED_DIRECTIONS = ("outbound", "inbound", "internal")  # a monitored address on one side

UNKNOWN_SERVICE = "Unknown"
UNKNOWN_CATEGORY = "unknown"
