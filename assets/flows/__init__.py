"""Flow telemetry (nfcapd, nfdump exports, goflow2 JSON, IPFIX, NetFlow packets) -> `flows`."""
