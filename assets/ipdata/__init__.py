"""IP address data shared by the reference loaders and categorisation: address ranges and
the offline IP-to-country source."""
