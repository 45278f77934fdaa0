//! G1 — local-only LLM endpoints.
//!
//! Prompts carry the operator's logs, container names and documents, so they must never leave the
//! operator's network. An LLM endpoint is accepted only when every address its host resolves to is
//! local (loopback, RFC 1918, link-local or IPv6 unique-local), or when the operator named the host
//! explicitly in `llm.allow_hosts`.
//!
//! The check runs twice:
//! - [`check_endpoint`] when the configuration is loaded, so a bad endpoint is reported at start-up;
//! - [`check_endpoint_at_connect`] before every connection, because DNS answers change (DNS
//!   rebinding: a name that resolved to `10.0.0.5` at start-up may resolve to a public address
//!   later). It returns the vetted socket addresses so the client can connect to exactly those and
//!   not resolve the name a second time.
//!
//! Address rules (see [`classify_ip`]):
//! - `0.0.0.0` / `::` (unspecified) are refused: they are listening wildcards, not destinations.
//! - IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is classified by its embedded IPv4 address, because that is
//!   where the connection goes.
//! - 6to4 (`2002::/16`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`), Teredo and the deprecated
//!   IPv4-compatible form (`::a.b.c.d`) are refused *even when the embedded IPv4 address is local*:
//!   packets to them are handed to a relay or translator, which may sit outside the operator's
//!   network, so the prompt would leave the host before being translated.
//! - CGNAT (`100.64.0.0/10`), multicast, broadcast, documentation, benchmarking and reserved ranges
//!   are refused like any public address. An operator whose LLM really sits on such an address (a
//!   Tailscale node in `100.64.0.0/10`, say) lists it in `llm.allow_hosts`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use url::{Host, Url};

use crate::{Error, Result};

/// The configuration field every message refers to.
const FIELD: &str = "llm.endpoint";

/// The rule quoted in every refusal, so the operator knows what would be accepted.
const RULE: &str = "only loopback, RFC 1918, link-local, IPv6 ULA addresses or hosts listed in \
                    llm.allow_hosts are allowed (G1)";

/// Why an address counts as local.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locality {
    /// `127.0.0.0/8`, `::1` (and `::ffff:127.0.0.0/104`).
    Loopback,
    /// RFC 1918: `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`.
    Private,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// IPv6 unique local addresses, `fc00::/7`.
    UniqueLocal,
    /// The host is listed in `llm.allow_hosts`; its addresses were not classified.
    AllowListed,
}

/// Classifies an address; `None` means it is not local and must be refused.
///
/// [`Locality::AllowListed`] is never returned here: allow-listing is a property of a host name,
/// decided by [`check_endpoint`] before any address is looked at.
pub fn classify_ip(ip: IpAddr) -> Option<Locality> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Locality> {
    let [a, b, ..] = ip.octets();
    if a == 127 {
        Some(Locality::Loopback)
    } else if a == 10 || (a == 172 && (16..=31).contains(&b)) || (a == 192 && b == 168) {
        Some(Locality::Private)
    } else if a == 169 && b == 254 {
        Some(Locality::LinkLocal)
    } else {
        // Everything else, including 0.0.0.0/8, CGNAT 100.64/10, multicast, broadcast and the
        // documentation ranges, is treated as public.
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<Locality> {
    if ip == Ipv6Addr::LOCALHOST {
        return Some(Locality::Loopback);
    }
    // `::ffff:a.b.c.d` is how dual-stack sockets spell an IPv4 destination: the connection goes to
    // the IPv4 address, so that is what decides.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let first = ip.segments()[0];
    if first & 0xffc0 == 0xfe80 {
        Some(Locality::LinkLocal)
    } else if first & 0xfe00 == 0xfc00 {
        Some(Locality::UniqueLocal)
    } else {
        // Unspecified `::`, the deprecated IPv4-compatible `::a.b.c.d`, 6to4, NAT64, Teredo,
        // site-local `fec0::/10` (deprecated), multicast and global unicast are all refused.
        None
    }
}

/// A human description of why `ip` is refused, for the error message.
fn refused_kind(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(v4) => describe_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return describe_v4(v4);
            }
            let segments = v6.segments();
            if v6.is_unspecified() {
                "unspecified address"
            } else if v6.is_multicast() {
                "multicast address"
            } else if segments[0] == 0x2002 {
                "6to4 relay address"
            } else if segments[0] == 0x0064 && segments[1] == 0xff9b {
                "NAT64 translated address"
            } else if segments[..6].iter().all(|s| *s == 0) {
                "IPv4-compatible (deprecated) address"
            } else {
                "public address"
            }
        }
    }
}

fn describe_v4(ip: Ipv4Addr) -> &'static str {
    let [a, b, c, _] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        "unspecified address"
    } else if ip.is_broadcast() {
        "broadcast address"
    } else if ip.is_multicast() {
        "multicast address"
    } else if a == 100 && (b & 0xc0) == 64 {
        "shared (CGNAT) address"
    } else if (a, b, c) == (192, 0, 2) || (a, b, c) == (198, 51, 100) || (a, b, c) == (203, 0, 113)
    {
        "documentation address"
    } else if a >= 240 {
        "reserved address"
    } else {
        "public address"
    }
}

/// The parsed, scheme-checked endpoint.
#[derive(Debug)]
struct Endpoint {
    /// The host as the operator wrote it, normalised by the URL parser (lower case, IPv6 in
    /// brackets). Never contains the URL's user info, so it is safe to put in messages.
    display: String,
    target: Target,
    port: u16,
}

#[derive(Debug)]
enum Target {
    Ip(IpAddr),
    /// A DNS name, lower case, without a trailing dot.
    Name(String),
}

/// The URL with any password removed, for messages about URLs that did not even parse.
fn without_userinfo(raw: &str) -> String {
    let trimmed = raw.trim();
    let Some(scheme_end) = trimmed.find("://") else {
        return trimmed.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &trimmed[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &trimmed[..authority_start], &rest[at + 1..]),
        None => trimmed.to_owned(),
    }
}

fn parse_endpoint(raw: &str) -> Result<Endpoint> {
    let url = Url::parse(raw.trim()).map_err(|e| {
        Error::invalid(
            FIELD,
            format!(
                "\"{}\" is not a valid URL ({e}); use http://host:port or https://host:port",
                without_userinfo(raw)
            ),
        )
    })?;
    let scheme = url.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(Error::invalid(
            FIELD,
            format!(
                "scheme \"{scheme}\" is not supported; the LLM endpoint must be an http:// or https:// URL"
            ),
        ));
    }
    let display = url.host_str().unwrap_or_default().to_owned();
    let target = match url.host() {
        Some(Host::Ipv4(v4)) => Target::Ip(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Target::Ip(IpAddr::V6(v6)),
        Some(Host::Domain(name)) if !name.trim_end_matches('.').is_empty() => {
            Target::Name(normalise_name(name))
        }
        _ => {
            return Err(Error::invalid(
                FIELD,
                "the LLM endpoint URL must name a host",
            ));
        }
    };
    // http and https always have a known default port, so the fallback is never used; it only
    // avoids a panic path.
    let port = url
        .port_or_known_default()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    Ok(Endpoint {
        display,
        target,
        port,
    })
}

/// Host names compare case-insensitively and a trailing dot (the fully-qualified spelling) is
/// ignored.
fn normalise_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Whether the operator listed this endpoint's host. Entries may be names (any case, with or
/// without a trailing dot) or IP literals (IPv6 with or without brackets); IP entries match by
/// address, so `::1` matches `[0:0:0:0:0:0:0:1]`.
fn is_allow_listed(endpoint: &Endpoint, allow_hosts: &[String]) -> bool {
    allow_hosts.iter().any(|entry| {
        let entry = entry.trim();
        let unbracketed = entry
            .strip_prefix('[')
            .and_then(|e| e.strip_suffix(']'))
            .unwrap_or(entry);
        match (&endpoint.target, unbracketed.parse::<IpAddr>()) {
            (Target::Ip(ip), Ok(listed)) => *ip == listed,
            (Target::Name(name), Err(_)) => {
                !name.is_empty() && *name == normalise_name(unbracketed)
            }
            _ => false,
        }
    })
}

/// Refuses unless every address is local. An empty list is accepted here; callers decide what no
/// address means.
fn vet_addresses(host: &str, addresses: impl IntoIterator<Item = IpAddr>) -> Result<()> {
    for ip in addresses {
        if classify_ip(ip).is_none() {
            return Err(Error::Forbidden(format!(
                "LLM endpoint host \"{host}\" resolves to {} {ip}: {RULE}",
                refused_kind(ip)
            )));
        }
    }
    Ok(())
}

/// The configuration-time check of `llm.endpoint` (G1).
///
/// Refuses a URL that is not `http`/`https` with a host ([`Error::InvalidInput`] on
/// `llm.endpoint`) and a host that is not allow-listed and resolves to any non-local address
/// ([`Error::Forbidden`], naming the host, the address and the rule).
///
/// A host name that cannot be resolved *now* is accepted: the LLM may simply not be up yet when
/// the configuration is loaded, and [`check_endpoint_at_connect`] refuses it before any
/// connection if it still does not resolve (or resolves somewhere public) then.
///
/// Resolution uses the system resolver and may block briefly; this runs once at start-up.
pub fn check_endpoint(url: &str, allow_hosts: &[String]) -> Result<()> {
    let endpoint = parse_endpoint(url)?;
    if is_allow_listed(&endpoint, allow_hosts) {
        return Ok(());
    }
    match &endpoint.target {
        Target::Ip(ip) => vet_addresses(&endpoint.display, [*ip]),
        Target::Name(name) => match (name.as_str(), endpoint.port).to_socket_addrs() {
            Ok(addresses) => vet_addresses(&endpoint.display, addresses.map(|a| a.ip())),
            Err(e) => {
                tracing::debug!(
                    host = %endpoint.display,
                    error = %e,
                    "LLM endpoint host does not resolve yet; it is checked again at connect time"
                );
                Ok(())
            }
        },
    }
}

/// The connect-time check (G1, DNS rebinding): resolves the endpoint's host now, refuses it unless
/// every address is local (or the host is allow-listed), and returns the vetted socket addresses.
///
/// Clients must connect to one of the returned addresses rather than resolving the host again,
/// otherwise a second DNS answer could point somewhere else. For allow-listed hosts the resolved
/// addresses are returned without classification.
///
/// A host that does not resolve, or resolves to nothing, is [`Error::Unavailable`] for component
/// `llm`.
pub async fn check_endpoint_at_connect(
    url: &str,
    allow_hosts: &[String],
) -> Result<Vec<SocketAddr>> {
    let endpoint = parse_endpoint(url)?;
    let allow_listed = is_allow_listed(&endpoint, allow_hosts);
    let addresses: Vec<SocketAddr> = match &endpoint.target {
        Target::Ip(ip) => vec![SocketAddr::new(*ip, endpoint.port)],
        Target::Name(name) => {
            let resolved = tokio::net::lookup_host((name.as_str(), endpoint.port))
                .await
                .map_err(|e| {
                    Error::unavailable(
                        "llm",
                        format!(
                            "cannot resolve LLM endpoint host \"{}\": {e}",
                            endpoint.display
                        ),
                    )
                })?;
            let mut addresses: Vec<SocketAddr> = Vec::new();
            for address in resolved {
                if !addresses.contains(&address) {
                    addresses.push(address);
                }
            }
            if addresses.is_empty() {
                return Err(Error::unavailable(
                    "llm",
                    format!(
                        "cannot resolve LLM endpoint host \"{}\": no addresses returned",
                        endpoint.display
                    ),
                ));
            }
            addresses
        }
    };
    if !allow_listed {
        vet_addresses(&endpoint.display, addresses.iter().map(SocketAddr::ip))?;
    }
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_allow() -> Vec<String> {
        Vec::new()
    }

    fn forbidden_message(result: Result<()>) -> String {
        match result {
            Err(Error::Forbidden(message)) => message,
            other => panic!("expected Forbidden, got {other:?}"),
        }
    }

    #[test]
    fn classify_table() {
        use Locality::*;
        let cases: &[(&str, Option<Locality>)] = &[
            // IPv4 loopback, the whole /8.
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            // RFC 1918 edges.
            ("10.0.0.1", Some(Private)),
            ("10.255.255.255", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.15.255.255", None),
            ("172.32.0.1", None),
            ("192.168.1.1", Some(Private)),
            ("192.169.0.1", None),
            // Link-local.
            ("169.254.1.1", Some(LinkLocal)),
            ("169.253.1.1", None),
            // Not destinations or not local.
            ("0.0.0.0", None),
            ("0.1.2.3", None),
            ("255.255.255.255", None),
            ("224.0.0.1", None),
            ("239.255.255.250", None),
            ("100.64.0.1", None),
            ("100.127.255.254", None),
            ("192.0.2.1", None),
            ("198.51.100.7", None),
            ("203.0.113.9", None),
            ("198.18.0.1", None),
            ("240.0.0.1", None),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            // IPv6.
            ("::1", Some(Loopback)),
            ("::", None),
            ("fe80::1", Some(LinkLocal)),
            ("febf:ffff::1", Some(LinkLocal)),
            ("fec0::1", None),
            ("fc00::1", Some(UniqueLocal)),
            ("fd00::1", Some(UniqueLocal)),
            ("fdff:ffff::1", Some(UniqueLocal)),
            ("fe00::1", None),
            ("ff02::1", None),
            ("2001:4860:4860::8888", None),
            ("2001:db8::1", None),
            // IPv4-mapped: classified by the IPv4 address.
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:10.0.0.1", Some(Private)),
            ("::ffff:169.254.3.4", Some(LinkLocal)),
            ("::ffff:8.8.8.8", None),
            ("::ffff:0.0.0.0", None),
            // Translation and tunnelling prefixes are refused even around a local IPv4 address.
            ("::127.0.0.1", None),
            ("::10.0.0.1", None),
            ("2002:a00:1::1", None),
            ("2002:7f00:1::", None),
            ("64:ff9b::a00:1", None),
            ("64:ff9b::7f00:1", None),
            ("64:ff9b:1::a00:1", None),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", None),
        ];
        for (text, expected) in cases {
            let ip: IpAddr = text.parse().expect("test address parses");
            assert_eq!(classify_ip(ip), *expected, "classify_ip({text})");
        }
    }

    #[test]
    fn endpoint_table() {
        // (url, accepted)
        let cases: &[(&str, bool)] = &[
            ("http://127.0.0.1:11434", true),
            ("http://8.8.8.8/v1", false),
            ("http://10.0.0.1:8000/v1", true),
            ("http://172.16.0.1", true),
            ("http://172.31.255.255", true),
            ("http://172.32.0.1", false),
            ("https://192.168.1.1/v1", true),
            ("http://169.254.1.1", true),
            ("http://[::1]:8080", true),
            ("http://[fe80::1]/", true),
            ("http://[fd00::1]:11434/v1", true),
            ("http://[2001:4860:4860::8888]/", false),
            ("http://[::ffff:8.8.8.8]/", false),
            ("http://[::ffff:10.0.0.1]/", true),
            ("http://[64:ff9b::a00:1]/", false),
            ("http://[2002:a00:1::1]/", false),
            ("http://0.0.0.0:11434", false),
            ("http://[::]:11434", false),
            ("http://100.64.1.2", false),
            ("http://255.255.255.255", false),
            ("http://224.0.0.1", false),
            ("http://192.0.2.10", false),
            ("http://localhost:11434/v1", true),
            ("http://LOCALHOST.:11434/v1", true),
            ("http://localhost.", true),
            ("HTTP://LocalHost:11434", true),
            // Full-width letters are mapped by IDNA before the host is looked at.
            (
                "http://\u{ff4c}\u{ff4f}\u{ff43}\u{ff41}\u{ff4c}\u{ff48}\u{ff4f}\u{ff53}\u{ff54}:1/",
                true,
            ),
            ("http://8.8.8.8./", false),
            ("http://127.1:11434", true),
            // The URL parser normalises numeric IPv4 spellings (as every HTTP client using it
            // would), so the decision follows the real destination address.
            ("http://2130706433/", true),
            ("http://0x7f.1/", true),
            ("http://0177.0.0.1/", true),
            ("http://134744072/", false),
            ("http://0x08.8.8.8/", false),
            ("http://0x8080808/", false),
        ];
        for (url, accepted) in cases {
            let result = check_endpoint(url, &no_allow());
            assert_eq!(
                result.is_ok(),
                *accepted,
                "check_endpoint({url}) = {result:?}"
            );
            if !accepted {
                assert!(
                    matches!(result, Err(Error::Forbidden(_))),
                    "{url} should be Forbidden: {result:?}"
                );
            }
        }
    }

    #[test]
    fn refusal_names_host_address_and_rule() {
        assert_eq!(
            forbidden_message(check_endpoint("http://8.8.8.8/", &no_allow())),
            "LLM endpoint host \"8.8.8.8\" resolves to public address 8.8.8.8: only loopback, \
             RFC 1918, link-local, IPv6 ULA addresses or hosts listed in llm.allow_hosts are \
             allowed (G1)"
        );
        let message = forbidden_message(check_endpoint("http://[::ffff:8.8.8.8]:80/", &no_allow()));
        assert!(message.contains("\"[::ffff:808:808]\""), "{message}");
        assert!(message.contains("::ffff:8.8.8.8"), "{message}");
        assert!(message.contains("(G1)"), "{message}");

        let message = forbidden_message(check_endpoint("http://100.64.0.1", &no_allow()));
        assert!(
            message.contains("shared (CGNAT) address 100.64.0.1"),
            "{message}"
        );
        let message = forbidden_message(check_endpoint("http://0.0.0.0", &no_allow()));
        assert!(message.contains("unspecified address 0.0.0.0"), "{message}");
        let message = forbidden_message(check_endpoint("http://[64:ff9b::a00:1]", &no_allow()));
        assert!(message.contains("NAT64"), "{message}");
    }

    #[test]
    fn numeric_host_spellings_name_the_normalised_host() {
        let message = forbidden_message(check_endpoint("http://0x08.8.8.8/", &no_allow()));
        assert!(message.contains("\"8.8.8.8\""), "{message}");
    }

    #[test]
    fn userinfo_is_checked_by_host_and_never_echoed() {
        let message =
            forbidden_message(check_endpoint("http://user:hunter2@8.8.8.8/", &no_allow()));
        assert!(message.contains("\"8.8.8.8\""), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(!message.contains("user"), "{message}");
        // Credentials for a local proxy are fine.
        assert!(check_endpoint("http://user:hunter2@127.0.0.1:8080/", &no_allow()).is_ok());
        // An unparsable URL is echoed without its credentials.
        match check_endpoint("http://user:hunter2@[::1/", &no_allow()) {
            Err(Error::InvalidInput(errors)) => {
                let text = errors.to_string();
                assert!(text.starts_with("llm.endpoint: "), "{text}");
                assert!(!text.contains("hunter2"), "{text}");
            }
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn malformed_urls_are_invalid_input_on_the_endpoint_field() {
        for url in [
            "ftp://127.0.0.1/",
            "file:///tmp/socket",
            "unix:///var/run/llm.sock",
            "http://",
            "http:///",
            "127.0.0.1:11434",
            "localhost:11434",
            "",
            "not a url",
            "http://[fe80::1%25eth0]/",
        ] {
            match check_endpoint(url, &no_allow()) {
                Err(Error::InvalidInput(errors)) => {
                    assert!(
                        errors.fields().any(|(field, _)| field == FIELD),
                        "{url}: {errors}"
                    );
                }
                other => panic!("{url}: expected InvalidInput, got {other:?}"),
            }
        }
        match check_endpoint("ftp://127.0.0.1/", &no_allow()) {
            Err(e) => assert!(e.to_string().contains("\"ftp\""), "{e}"),
            Ok(()) => panic!("ftp accepted"),
        }
    }

    #[test]
    fn allow_list_matches_names_and_addresses() {
        let allow = vec![
            "LLM.Example.COM.".to_owned(),
            "8.8.4.4".to_owned(),
            "[2001:db8::1]".to_owned(),
            "100.101.102.103".to_owned(),
        ];
        for url in [
            "https://llm.example.com/v1",
            "https://LLM.EXAMPLE.COM./v1",
            "http://8.8.4.4/",
            "http://[2001:db8:0:0:0:0:0:1]:8080/",
            "http://100.101.102.103:11434",
        ] {
            assert!(
                check_endpoint(url, &allow).is_ok(),
                "{url} should be allow-listed"
            );
        }
        for url in [
            "http://8.8.8.8/",
            "http://[2001:db8::2]/",
            "http://100.101.102.104",
        ] {
            assert!(
                matches!(check_endpoint(url, &allow), Err(Error::Forbidden(_))),
                "{url} should be refused"
            );
        }
        // A name entry never matches an IP host and the other way round.
        let allow = vec!["8.8.8.8.example".to_owned(), String::new(), "  ".to_owned()];
        assert!(check_endpoint("http://8.8.8.8/", &allow).is_err());
    }

    #[test]
    fn unresolvable_names_pass_at_load() {
        // `.invalid` never resolves (RFC 6761).
        assert!(check_endpoint("http://cyberbrain-llm.invalid:11434", &no_allow()).is_ok());
    }

    #[test]
    fn every_resolved_address_must_be_local() {
        // A rebinding resolver answering with one local and one public address is refused, and
        // the message names the public one.
        let addresses: Vec<IpAddr> = vec![
            "10.0.0.5".parse().expect("ip"),
            "93.184.216.34".parse().expect("ip"),
        ];
        let message = forbidden_message(vet_addresses("llm.lan", addresses));
        assert!(message.contains("\"llm.lan\""), "{message}");
        assert!(
            message.contains("public address 93.184.216.34"),
            "{message}"
        );
        assert!(message.contains("llm.allow_hosts"), "{message}");

        let local: Vec<IpAddr> = vec![
            "10.0.0.5".parse().expect("ip"),
            "fd12::5".parse().expect("ip"),
        ];
        assert!(vet_addresses("llm.lan", local).is_ok());
    }

    #[test]
    fn without_userinfo_masks_credentials() {
        assert_eq!(
            without_userinfo("http://u:p@host/x@y"),
            "http://***@host/x@y"
        );
        assert_eq!(without_userinfo("http://host/x@y"), "http://host/x@y");
        assert_eq!(without_userinfo("http://a@b@host"), "http://***@host");
        assert_eq!(without_userinfo("no scheme"), "no scheme");
    }

    #[tokio::test]
    async fn connect_check_returns_vetted_addresses() {
        let addresses = check_endpoint_at_connect("http://10.1.2.3:8000/v1", &no_allow())
            .await
            .expect("private address accepted");
        assert_eq!(
            addresses,
            vec!["10.1.2.3:8000".parse::<SocketAddr>().expect("addr")]
        );

        let addresses = check_endpoint_at_connect("https://[fd00::1]/", &no_allow())
            .await
            .expect("ULA accepted");
        assert_eq!(
            addresses,
            vec!["[fd00::1]:443".parse::<SocketAddr>().expect("addr")]
        );

        let addresses = check_endpoint_at_connect("http://LOCALHOST.:11434", &no_allow())
            .await
            .expect("localhost accepted");
        assert!(!addresses.is_empty());
        for address in &addresses {
            assert_eq!(address.port(), 11434);
            assert_eq!(
                classify_ip(address.ip()),
                Some(Locality::Loopback),
                "{address}"
            );
        }
    }

    #[tokio::test]
    async fn connect_check_refuses_public_and_unresolvable_hosts() {
        match check_endpoint_at_connect("http://8.8.8.8/", &no_allow()).await {
            Err(Error::Forbidden(message)) => {
                assert!(message.contains("\"8.8.8.8\""), "{message}");
                assert!(message.contains("(G1)"), "{message}");
            }
            other => panic!("expected Forbidden, got {other:?}"),
        }
        match check_endpoint_at_connect("http://cyberbrain-llm.invalid/", &no_allow()).await {
            Err(Error::Unavailable { component, message }) => {
                assert_eq!(component, "llm");
                assert!(
                    message
                        .starts_with("cannot resolve LLM endpoint host \"cyberbrain-llm.invalid\""),
                    "{message}"
                );
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(matches!(
            check_endpoint_at_connect("ftp://127.0.0.1/", &no_allow()).await,
            Err(Error::InvalidInput(_))
        ));
    }

    #[tokio::test]
    async fn connect_check_skips_classification_for_allow_listed_hosts() {
        let allow = vec!["8.8.8.8".to_owned(), "localhost".to_owned()];
        let addresses = check_endpoint_at_connect("http://8.8.8.8:8080/", &allow)
            .await
            .expect("allow-listed");
        assert_eq!(
            addresses,
            vec!["8.8.8.8:8080".parse::<SocketAddr>().expect("addr")]
        );
        let addresses = check_endpoint_at_connect("http://localhost/", &allow)
            .await
            .expect("allow-listed");
        assert!(addresses.iter().all(|a| a.port() == 80));
        // Allow-listing does not make an unresolvable name resolvable.
        let allow = vec!["cyberbrain-llm.invalid".to_owned()];
        assert!(matches!(
            check_endpoint_at_connect("http://cyberbrain-llm.invalid/", &allow).await,
            Err(Error::Unavailable { .. })
        ));
    }
}
