"""Service and category from the taxonomy, in rule order.

1. domain: the longest taxonomy suffix of the hostname (``qq.com`` covers ``mail.qq.com``)
2. domain (SNI pattern): a TLS name matching a service's ``sni_patterns`` (Tor's relay-style
   ``www.<random>.com``) that no domain rule claimed, that the client never resolved
   through DNS or that was seen on one of the service's ports
3. category_list: the longest suffix of the hostname in the configured category lists
   (UT1 format): a category, no service
4. cert_org: the certificate's subject organisation names a service (``cert_orgs``), for a
   session no rule above named, unless the certificate's name falls under a provider's
   domains (a shared CDN or cloud certificate says nothing of whose site it serves)
5. ip_prefix: the longest taxonomy prefix containing the remote address, only for flows
   without a hostname (a hostname that no rule knows is an unknown domain, not the
   hosting provider's service)
6. asn: the remote AS's rule, only for flows without a hostname
7. port: the responder port (proto + port; the narrowest taxonomy range wins)
8. asn of a provider (``provider: true``): names the cloud/CDN/hosting company, and only
   when nothing above knew the session (an OpenVPN port on a rented server is a VPN)
"""

from __future__ import annotations

import polars as pl

from assets.core.addresses import lookup_ranges
from assets.reference.category_lists import CategoryLists
from assets.reference.loaders import UNKNOWN_CATEGORY, UNKNOWN_SERVICE, Taxonomy


def match_domains(
    names: pl.Series, domain_rules: pl.DataFrame, value: str = "service_id"
) -> pl.DataFrame:
    """Distinct names -> frame(name, ``value``) by longest matching suffix (null: none)."""
    frame = pl.DataFrame({"name": names.cast(pl.String)}).filter(pl.col("name").is_not_null())
    frame = frame.unique()
    cands = (
        frame.with_columns(_labels=pl.col("name").str.split("."))
        .with_columns(_skip=pl.int_ranges(0, pl.col("_labels").list.len()))
        .explode("_skip")
        .with_columns(suffix=pl.col("_labels").list.slice(pl.col("_skip")).list.join("."))
        .join(domain_rules, on="suffix", how="inner")
        .sort("_skip")  # fewest labels skipped = longest suffix
        .unique(subset="name", keep="first")
        .select("name", value)
    )
    return frame.join(cands, on="name", how="left")


def _sni_pattern_service(taxonomy: Taxonomy) -> pl.Expr:
    """Expression giving the service of an unmatched, pattern-like TLS name (else null)."""
    expr = pl.lit(None, dtype=pl.String)
    port_key = pl.col("proto") + pl.lit("/") + pl.col("resp_p").cast(pl.String)
    # few rules (Tor only by default): a when-chain, first listed rule wins
    for row in reversed(list(taxonomy.sni_rules.iter_rows(named=True))):
        on_port = port_key.is_in(_single_ports(row["ports"]))
        hit = (
            (pl.col("hostname_source") == "sni")
            & pl.col("_ascii").str.contains(row["pattern"])
            & (~pl.col("_resolved") | on_port)
        )
        expr = pl.when(hit).then(pl.lit(row["service_id"])).otherwise(expr)
    return expr


def _single_ports(rules: list[str]) -> list[str]:
    out = []
    for r in rules:
        proto, ports = r.split("/")
        lo, _, hi = ports.partition("-")
        out += [f"{proto}/{p}" for p in range(int(lo), int(hi or lo) + 1)]
    return out


def classify(
    frame: pl.DataFrame, taxonomy: Taxonomy, lists: CategoryLists | None = None
) -> pl.DataFrame:
    """Add service, category, match_source.

    ``frame`` needs: _ascii (IDNA hostname or null), hostname_source, _resolved (client
    resolved that name through DNS), remote_ip, proto, resp_p, cert_org, cert_name,
    remote_asn.
    """
    domains = match_domains(frame.get_column("_ascii"), taxonomy.domain_rules).rename(
        {"name": "_ascii", "service_id": "_sid_domain"}
    )
    out = frame.join(domains, on="_ascii", how="left", maintain_order="left")
    lists = lists or CategoryLists.empty()
    listed = match_domains(out.get_column("_ascii"), lists.rules, "category").rename(
        {"name": "_ascii", "category": "_list_cat"}
    )
    out = out.join(listed, on="_ascii", how="left", maintain_order="left")
    shared = match_domains(out.get_column("cert_name"), taxonomy.provider_domains).select(
        cert_name="name", _shared_cert=pl.col("service_id").is_not_null()
    )
    orgs = taxonomy.cert_org_rules.rename({"service_id": "_sid_cert"})
    out = (
        out.join(shared, on="cert_name", how="left", maintain_order="left")
        .with_columns(_org_key=pl.col("cert_org").str.to_lowercase().str.strip_chars())
        .join(orgs, left_on="_org_key", right_on="cert_org", how="left", maintain_order="left")
    )
    providers = pl.Series(sorted(taxonomy.provider_ids), dtype=pl.String)
    asns = taxonomy.asn_rules.rename({"service_id": "_sid_asn_rule"}).with_columns(
        _asn_provider=pl.col("_sid_asn_rule").is_in(providers.implode())
    )
    out = out.join(asns, on="remote_asn", how="left", maintain_order="left")
    no_host = pl.col("_ascii").is_null()
    out = out.with_columns(
        _sid_sni=pl.when(pl.col("_sid_domain").is_null()).then(_sni_pattern_service(taxonomy)),
        _sid_ip=pl.when(no_host).then(
            lookup_ranges(out, "remote_ip", taxonomy.ip_rules, "service_id")
        ),
        _sid_asn=pl.when(no_host & ~pl.col("_asn_provider").fill_null(False)).then(
            pl.col("_sid_asn_rule")
        ),
        _sid_asn_provider=pl.when(no_host & pl.col("_asn_provider").fill_null(False)).then(
            pl.col("_sid_asn_rule")
        ),
        _sid_cert=pl.when(~pl.col("_shared_cert").fill_null(False)).then(pl.col("_sid_cert")),
    )
    ports = taxonomy.port_rules.rename({"port": "resp_p", "service_id": "_sid_port"})
    out = out.join(ports, on=["proto", "resp_p"], how="left", maintain_order="left")
    by_name = pl.coalesce("_sid_domain", "_sid_sni")
    listed_only = by_name.is_null() & pl.col("_list_cat").is_not_null()
    out = out.with_columns(
        _sid=pl.when(listed_only)
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(
            pl.coalesce(
                by_name, "_sid_cert", "_sid_ip", "_sid_asn", "_sid_port", "_sid_asn_provider"
            )
        ),
        match_source=pl.when(by_name.is_not_null())
        .then(pl.lit("domain"))
        .when(listed_only)
        .then(pl.lit("category_list"))
        .when(pl.col("_sid_cert").is_not_null())
        .then(pl.lit("cert_org"))
        .when(pl.col("_sid_ip").is_not_null())
        .then(pl.lit("ip_prefix"))
        .when(pl.col("_sid_asn").is_not_null())
        .then(pl.lit("asn"))
        .when(pl.col("_sid_port").is_not_null())
        .then(pl.lit("port"))
        .when(pl.col("_sid_asn_provider").is_not_null())
        .then(pl.lit("asn"))
        .otherwise(pl.lit("none")),
    )
    services = taxonomy.services.rename({"service_id": "_sid"})
    out = out.join(services, on="_sid", how="left", maintain_order="left")
    return out.with_columns(
        service=pl.col("service").fill_null(UNKNOWN_SERVICE),
        category=pl.coalesce("category", "_list_cat").fill_null(UNKNOWN_CATEGORY),
    ).drop(
        "_sid_domain",
        "_sid_sni",
        "_sid_ip",
        "_sid_asn",
        "_sid_asn_rule",
        "_sid_asn_provider",
        "_asn_provider",
        "_sid_cert",
        "_sid_port",
        "_sid",
        "_list_cat",
        "_shared_cert",
        "_org_key",
    )
