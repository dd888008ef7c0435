//! Who the client is behind a reverse proxy. Only a peer in
//! `--trusted-proxy` may tell us, with `X-Forwarded-For`; from
//! anyone else those headers are ignored, since a client can write whatever
//! it likes there. With several hops, the client is the right-most address
//! that is not itself a trusted proxy: everything left of it is the client's
//! own claim. The answer is what per-address limits, login throttling and
//! the logs use.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Parses a `--trusted-proxy` value: a CIDR (`10.0.0.0/8`, `fd00::/8`) or
/// a single address (`127.0.0.1`, `::1`).
pub fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("\"{text}\" is not an address or a CIDR range (e.g. 127.0.0.1 or 10.0.0.0/8)"))
}

/// The client's address: `peer`, or what trusted proxies say.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_hops(headers);
    // Walk from the proxy nearest to us outwards; the first hop we do not
    // trust is the client. A hop that is not an address ends the walk: we
    // cannot see past it.
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if is_trusted(ip) => client = *ip,
            Some(ip) => return *ip,
            None => return client,
        }
    }
    client
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The hops of `X-Forwarded-For`, left (client side) to right (nearest
/// proxy); `None` for a hop that is not an address. `Forwarded` (RFC 7239) is
/// deliberately not read: proxies append to `X-Forwarded-For` (nginx's
/// `$proxy_add_x_forwarded_for`, Caddy, HAProxy's `forwardfor`) but pass a
/// client's own `Forwarded` header through untouched, so believing it would
/// let a client choose its address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(parse_node)
        .collect()
}

/// An address from a header: `192.0.2.1`, `"[2001:db8::1]:4711"`, `192.0.2.1:80`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok()).map(canonical);
    }
    text.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok()).map(canonical)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| parse_cidr(n).expect("cidr")).collect()
    }

    #[test]
    fn only_trusted_peers_are_believed() {
        let xff = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(client_ip(ip("198.51.100.1"), &xff, &nets(&["127.0.0.1"])), ip("198.51.100.1"));
        assert_eq!(client_ip(ip("127.0.0.1"), &xff, &[]), ip("127.0.0.1"), "nothing trusted by default");
        assert_eq!(client_ip(ip("127.0.0.1"), &xff, &nets(&["127.0.0.1"])), ip("203.0.113.7"));
        assert_eq!(client_ip(ip("127.0.0.1"), &HeaderMap::new(), &nets(&["127.0.0.1"])), ip("127.0.0.1"));
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_hop() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1"]);
        // The client wrote "6.6.6.6" itself; 203.0.113.7 reached our first proxy.
        let xff = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.1.2.3")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &xff, &trusted), ip("203.0.113.7"));
        // Several headers are one list, in order.
        let split = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "203.0.113.7, 10.1.2.3")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &split, &trusted), ip("203.0.113.7"));
        // All hops trusted: the left-most.
        let inside = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.2.3")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &inside, &trusted), ip("10.9.9.9"));
        // Garbage at the near end stops the walk at the last proxy we trust.
        let junk = headers(&[("x-forwarded-for", "203.0.113.7, not-an-ip")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &junk, &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn a_forwarded_header_is_never_believed_and_address_forms_parse() {
        let trusted = nets(&["127.0.0.1"]);
        // A client's own `Forwarded` passes through proxies untouched: ignored.
        let spoofed = headers(&[("forwarded", "for=6.6.6.6"), ("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &spoofed, &trusted), ip("203.0.113.7"));
        let only_forwarded = headers(&[("forwarded", "for=6.6.6.6")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &only_forwarded, &trusted), ip("127.0.0.1"));
        let forms = headers(&[("x-forwarded-for", "\"[2001:db8::1]:4711\", 192.0.2.60:80")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &forms, &nets(&["127.0.0.1", "192.0.2.60"])), ip("2001:db8::1"));
        let mapped = headers(&[("x-forwarded-for", "::ffff:203.0.113.9")]);
        assert_eq!(client_ip(ip("::ffff:127.0.0.1"), &mapped, &trusted), ip("203.0.113.9"));
    }

    #[test]
    fn cidrs_and_addresses_parse_and_bad_ones_are_named() {
        assert_eq!(nets(&["10.0.0.0/8", "::1", "127.0.0.1"]).len(), 3);
        let e = parse_cidr("10.0.0.0/33").expect_err("bad prefix");
        assert!(e.starts_with("\"10.0.0.0/33\" is not an address or a CIDR range"), "{e}");
        assert!(parse_cidr("localhost").is_err());
    }
}
