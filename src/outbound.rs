//! The one builder of outgoing HTTP clients (web hooks, the password migration hook, the
//! breached-password API, schema and template URLs, the courier, identity providers), so that
//! `clients.http.disallow_private_ip_ranges` holds for every call.
//!
//! With the key on, a destination is classified after DNS resolution, and the connection goes to
//! the address that was checked (the resolver hands reqwest only accepted addresses), so there is
//! no rebinding window. IP-literal hosts skip resolvers and are checked when the request is built
//! and on each redirect hop. `clients.http.private_ip_exception_urls` are Kratos's globs matched
//! against the request URL without query and fragment; a matching URL may reach the ranges Kratos
//! exempts (private-use, loopback, link-local, unique-local), never the others.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::config::HttpClient;

const KEY: &str = "clients.http.disallow_private_ip_ranges";
const EXCEPTIONS: &str = "clients.http.private_ip_exception_urls";
/// reqwest's own default limit, kept for the custom redirect policy.
const MAX_REDIRECTS: usize = 10;

/// Why a destination was refused; the text names the configuration key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// How one caller's client differs from the others.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Bound on a whole request (connect, send, answer).
    pub timeout: Duration,
    /// Follow up to 10 redirects (each hop checked), or none.
    pub follow_redirects: bool,
    /// Send `User-Agent: gatehouse/<version>`.
    pub user_agent: bool,
}

/// A client pair: `strict` for every URL, `exempt` for URLs matching an exception.
#[derive(Clone)]
pub struct Outbound {
    strict: reqwest::Client,
    exempt: reqwest::Client,
    guard: Option<Arc<Guard>>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("guarded", &self.guard.is_some())
            .finish_non_exhaustive()
    }
}

impl Outbound {
    pub fn new(cfg: &HttpClient, opts: Options) -> Result<Outbound, String> {
        // Idempotent; rustls needs a process-wide provider before the first TLS client.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let guard = cfg.disallow_private_ip_ranges.then(|| {
            Arc::new(Guard {
                exceptions: cfg
                    .private_ip_exception_urls
                    .iter()
                    .map(|g| Glob::new(g))
                    .collect(),
            })
        });
        let build = |exempt: bool| {
            let mut b = reqwest::Client::builder().timeout(opts.timeout);
            if opts.user_agent {
                b = b.user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")));
            }
            b = match &guard {
                None if opts.follow_redirects => b,
                None => b.redirect(reqwest::redirect::Policy::none()),
                Some(g) => {
                    // A proxy would resolve the destination itself, out of our sight.
                    b = b.no_proxy().dns_resolver(Arc::new(Filter { exempt }));
                    if opts.follow_redirects {
                        let g = g.clone();
                        b.redirect(reqwest::redirect::Policy::custom(move |attempt| {
                            if attempt.previous().len() > MAX_REDIRECTS {
                                return attempt.error("too many redirects");
                            }
                            match g.check_hop(attempt.url(), exempt) {
                                Ok(()) => attempt.follow(),
                                Err(r) => attempt.error(r),
                            }
                        }))
                    } else {
                        b.redirect(reqwest::redirect::Policy::none())
                    }
                }
            };
            b.build()
                .map_err(|e| format!("building the HTTP client: {e}"))
        };
        let strict = build(false)?;
        // Without the guard the two clients would be the same.
        let exempt = if guard.is_some() {
            build(true)?
        } else {
            strict.clone()
        };
        Ok(Outbound {
            strict,
            exempt,
            guard,
        })
    }

    /// A request to `url` on the client its URL calls for; an IP-literal host in a refused range
    /// is refused here, since no resolver sees it.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, Refused> {
        let Some(g) = &self.guard else {
            return Ok(self.strict.request(method, url));
        };
        let Ok(parsed) = url::Url::parse(url) else {
            // reqwest reports the malformed URL itself.
            return Ok(self.strict.request(method, url));
        };
        let exempt = g.is_exception(&parsed);
        if let Some(ip) = literal_ip(&parsed) {
            check(&ip.to_string(), ip, exempt)?;
        }
        Ok(if exempt { &self.exempt } else { &self.strict }.request(method, url))
    }

    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, Refused> {
        self.request(reqwest::Method::GET, url)
    }

    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, Refused> {
        self.request(reqwest::Method::POST, url)
    }
}

/// A reqwest error as text, with the refusal's own message when the guard caused it (reqwest's
/// `Display` leaves out the source that says why).
pub fn explain(e: &reqwest::Error) -> String {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return r.0.clone();
        }
        source = s.source();
    }
    e.to_string()
}

struct Guard {
    exceptions: Vec<Glob>,
}

impl Guard {
    fn is_exception(&self, url: &url::Url) -> bool {
        let full = &url[..url::Position::AfterPath];
        // Go's URL keeps an empty path empty; the url crate writes "/".
        let bare = (url.path() == "/").then(|| full.trim_end_matches('/'));
        self.exceptions
            .iter()
            .any(|g| g.matches(full) || bare.is_some_and(|b| g.matches(b)))
    }

    /// A redirect hop from a client that `exempt` says was chosen for an exception URL.
    fn check_hop(&self, url: &url::Url, exempt: bool) -> Result<(), Refused> {
        let hop_exempt = self.is_exception(url);
        if let Some(ip) = literal_ip(url) {
            return check(&ip.to_string(), ip, exempt && hop_exempt);
        }
        if exempt && !hop_exempt {
            // This client's resolver would let the hop reach internal ranges.
            return Err(Refused(format!(
                "refused: the redirect to {} leaves {EXCEPTIONS} and {KEY} is set",
                &url[..url::Position::AfterPath]
            )));
        }
        Ok(())
    }
}

fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// Refuses `ip` (reached through `host`) unless it is public, or `exempt` and in a range
/// exceptions may reach.
fn check(host: &str, ip: IpAddr, exempt: bool) -> Result<(), Refused> {
    match classify(ip) {
        None => Ok(()),
        Some(kind) if exempt && kind.exemptible() => Ok(()),
        Some(kind) => {
            let which = if host == ip.to_string() {
                format!("{ip} is")
            } else {
                format!("{host} resolves to {ip}, which is")
            };
            Err(Refused(format!(
                "refused: {which} {} address and {KEY} is set",
                kind.article()
            )))
        }
    }
}

/// Resolves with the system resolver and hands reqwest only the accepted addresses.
struct Filter {
    exempt: bool,
}

impl reqwest::dns::Resolve for Filter {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let exempt = self.exempt;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut first_refusal = None;
            let kept: Vec<SocketAddr> = all
                .into_iter()
                .filter(|a| match check(&host, a.ip(), exempt) {
                    Ok(()) => true,
                    Err(r) => {
                        first_refusal.get_or_insert(r);
                        false
                    }
                })
                .collect();
            match (kept.is_empty(), first_refusal) {
                (true, Some(r)) => Err(Box::new(r) as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

/// The non-public ranges, by what the refusal calls them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Private,
    Loopback,
    LinkLocal,
    UniqueLocal,
    SharedCgnat,
    Unspecified,
    Multicast,
    Documentation,
    Benchmarking,
    Reserved,
}

impl Kind {
    /// What Kratos lets an exception URL reach.
    fn exemptible(self) -> bool {
        matches!(
            self,
            Kind::Private | Kind::Loopback | Kind::LinkLocal | Kind::UniqueLocal
        )
    }

    fn article(self) -> &'static str {
        match self {
            Kind::Private => "a private",
            Kind::Loopback => "a loopback",
            Kind::LinkLocal => "a link-local",
            Kind::UniqueLocal => "a unique-local",
            Kind::SharedCgnat => "a shared (CGNAT)",
            Kind::Unspecified => "an unspecified",
            Kind::Multicast => "a multicast",
            Kind::Documentation => "a documentation",
            Kind::Benchmarking => "a benchmarking",
            Kind::Reserved => "a reserved",
        }
    }
}

/// `None` for a public address, else the range it is in (IANA special-purpose registries).
pub fn classify(ip: IpAddr) -> Option<Kind> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Kind> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => Kind::Unspecified,
        (10, ..) => Kind::Private,
        (100, 64..=127, _) => Kind::SharedCgnat,
        (127, ..) => Kind::Loopback,
        (169, 254, _) => Kind::LinkLocal,
        (172, 16..=31, _) => Kind::Private,
        (192, 0, 0) => Kind::Reserved,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Kind::Documentation,
        (192, 88, 99) => Kind::Reserved,
        (192, 168, _) => Kind::Private,
        (198, 18..=19, _) => Kind::Benchmarking,
        (224..=239, ..) => Kind::Multicast,
        (240..=255, ..) => Kind::Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<Kind> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some(Kind::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Kind::Loopback);
    }
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they embed.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let o = ip.octets();
        return classify_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if s[0] == 0x2002 {
        let o = ip.octets();
        return classify_v4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    Some(match s[0] {
        0xfc00..=0xfdff => Kind::UniqueLocal,
        0xfe80..=0xfebf => Kind::LinkLocal,
        0xfec0..=0xfeff => Kind::Private, // site-local, deprecated
        0xff00..=0xffff => Kind::Multicast,
        0x2001 if s[1] == 0x0db8 => Kind::Documentation,
        0x2001 if s[1] == 0 => Kind::Reserved, // Teredo tunnels to any IPv4 address
        0x2001 if s[1] == 2 && s[2] == 0 => Kind::Benchmarking,
        0x3fff if s[1] < 0x1000 => Kind::Documentation,
        // Everything publicly routed is in 2000::/3; the rest is reserved or embeds IPv4.
        0x2000..=0x3fff => return None,
        _ => Kind::Reserved,
    })
}

/// One exception URL: a glob as Kratos compiles it (gobwas/glob with `.` and `/` as
/// separators): `*` any run without a separator, `**` any run, `?` one non-separator,
/// `[a-z]`/`[!a-z]` a class, `{a,b}` alternatives, `\` escapes.
struct Glob {
    alternatives: Vec<Vec<Tok>>,
}

#[derive(Clone, Debug)]
enum Tok {
    Lit(char),
    Star,
    Super,
    One,
    Class(bool, Vec<(char, char)>),
}

fn is_sep(c: char) -> bool {
    c == '.' || c == '/'
}

impl Glob {
    fn new(pattern: &str) -> Glob {
        Glob {
            alternatives: expand_braces(pattern).iter().map(|p| tokens(p)).collect(),
        }
    }

    fn matches(&self, s: &str) -> bool {
        let s: Vec<char> = s.chars().collect();
        self.alternatives.iter().any(|t| match_toks(t, &s))
    }
}

/// `a{b,c}d` as `abd` and `acd` (nested braces expand from the outside in).
fn expand_braces(p: &str) -> Vec<String> {
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    let mut open = None;
    let mut depth = 0;
    let mut commas = Vec::new();
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '{' => {
                if depth == 0 {
                    open = Some(i);
                    commas.clear();
                }
                depth += 1;
            }
            ',' if depth == 1 => commas.push(i),
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    let start = open.expect("an opened brace");
                    let head: String = chars[..start].iter().collect();
                    let tail: String = chars[i + 1..].iter().collect();
                    let mut cuts = vec![start];
                    cuts.extend(&commas);
                    cuts.push(i);
                    let mut out = Vec::new();
                    for w in cuts.windows(2) {
                        let part: String = chars[w[0] + 1..w[1]].iter().collect();
                        out.extend(expand_braces(&format!("{head}{part}{tail}")));
                    }
                    return out;
                }
            }
            _ => {}
        }
        i += 1;
    }
    vec![p.to_owned()]
}

fn tokens(p: &str) -> Vec<Tok> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                out.push(Tok::Lit(chars[i + 1]));
                i += 1;
            }
            '*' if chars.get(i + 1) == Some(&'*') => {
                out.push(Tok::Super);
                i += 1;
            }
            '*' => out.push(Tok::Star),
            '?' => out.push(Tok::One),
            '[' => match chars[i + 1..].iter().position(|&c| c == ']') {
                Some(len) => {
                    let body = &chars[i + 1..i + 1 + len];
                    let (neg, body) = match body.first() {
                        Some('!') => (true, &body[1..]),
                        _ => (false, body),
                    };
                    let mut ranges = Vec::new();
                    let mut j = 0;
                    while j < body.len() {
                        if j + 2 < body.len() && body[j + 1] == '-' {
                            ranges.push((body[j], body[j + 2]));
                            j += 3;
                        } else {
                            ranges.push((body[j], body[j]));
                            j += 1;
                        }
                    }
                    out.push(Tok::Class(neg, ranges));
                    i += len + 1;
                }
                None => out.push(Tok::Lit('[')),
            },
            c => out.push(Tok::Lit(c)),
        }
        i += 1;
    }
    out
}

fn match_toks(t: &[Tok], s: &[char]) -> bool {
    let Some((first, rest)) = t.split_first() else {
        return s.is_empty();
    };
    match first {
        Tok::Lit(c) => s.first() == Some(c) && match_toks(rest, &s[1..]),
        Tok::One => s.first().is_some_and(|&c| !is_sep(c)) && match_toks(rest, &s[1..]),
        Tok::Class(neg, ranges) => {
            s.first()
                .is_some_and(|&c| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *neg)
                && match_toks(rest, &s[1..])
        }
        Tok::Star => {
            let run = s.iter().take_while(|&&c| !is_sep(c)).count();
            (0..=run).any(|n| match_toks(rest, &s[n..]))
        }
        Tok::Super => (0..=s.len()).any(|n| match_toks(rest, &s[n..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Option<Kind> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges() {
        for (ip, k) in [
            ("0.0.0.0", Kind::Unspecified),
            ("0.1.2.3", Kind::Unspecified),
            ("10.0.0.5", Kind::Private),
            ("172.16.0.1", Kind::Private),
            ("172.31.255.255", Kind::Private),
            ("192.168.1.1", Kind::Private),
            ("127.0.0.1", Kind::Loopback),
            ("127.255.0.9", Kind::Loopback),
            ("169.254.169.254", Kind::LinkLocal),
            ("100.64.0.1", Kind::SharedCgnat),
            ("100.127.255.254", Kind::SharedCgnat),
            ("192.0.0.8", Kind::Reserved),
            ("192.0.2.1", Kind::Documentation),
            ("198.51.100.7", Kind::Documentation),
            ("203.0.113.9", Kind::Documentation),
            ("198.18.0.1", Kind::Benchmarking),
            ("224.0.0.1", Kind::Multicast),
            ("239.255.255.250", Kind::Multicast),
            ("240.0.0.1", Kind::Reserved),
            ("255.255.255.255", Kind::Reserved),
        ] {
            assert_eq!(kind(ip), Some(k), "{ip}");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.0.1",
            "172.32.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.255",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges() {
        for (ip, k) in [
            ("::", Kind::Unspecified),
            ("::1", Kind::Loopback),
            ("::ffff:127.0.0.1", Kind::Loopback),
            ("::ffff:10.1.2.3", Kind::Private),
            ("::ffff:100.64.1.1", Kind::SharedCgnat),
            ("64:ff9b::a9fe:a9fe", Kind::LinkLocal),
            ("2002:7f00:1::", Kind::Loopback),
            ("fc00::1", Kind::UniqueLocal),
            ("fd12:3456::1", Kind::UniqueLocal),
            ("fe80::1", Kind::LinkLocal),
            ("febf::1", Kind::LinkLocal),
            ("ff02::1", Kind::Multicast),
            ("2001:db8::1", Kind::Documentation),
            ("2001::1", Kind::Reserved),
            ("::127.0.0.1", Kind::Reserved),
            ("100::1", Kind::Reserved),
        ] {
            assert_eq!(kind(ip), Some(k), "{ip}");
        }
        for ip in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }

    #[test]
    fn refusals_name_the_key_and_exceptions_reach_only_kratos_ranges() {
        let r = check("10.0.0.5", "10.0.0.5".parse().unwrap(), false).unwrap_err();
        assert_eq!(
            r.0,
            "refused: 10.0.0.5 is a private address and clients.http.disallow_private_ip_ranges is set"
        );
        let r = check("localhost", "127.0.0.1".parse().unwrap(), false).unwrap_err();
        assert!(
            r.0.contains("localhost resolves to 127.0.0.1, which is a loopback"),
            "{r}"
        );
        assert!(check("h", "127.0.0.1".parse().unwrap(), true).is_ok());
        assert!(check("h", "fd00::1".parse().unwrap(), true).is_ok());
        assert!(check("h", "100.64.0.1".parse().unwrap(), true).is_err());
        assert!(check("h", "0.0.0.0".parse().unwrap(), true).is_err());
        assert!(check("h", "93.184.216.34".parse().unwrap(), false).is_ok());
    }

    #[test]
    fn exception_globs_as_kratos() {
        let g = |p: &str, s: &str| Glob::new(p).matches(s);
        assert!(g(
            "http://127.0.0.1:4455/hook",
            "http://127.0.0.1:4455/hook"
        ));
        assert!(!g(
            "http://127.0.0.1:4455/hook",
            "http://127.0.0.1:4455/hook/x"
        ));
        assert!(g("http://127.0.0.1:4455/*", "http://127.0.0.1:4455/hook"));
        assert!(!g("http://127.0.0.1:4455/*", "http://127.0.0.1:4455/a/b"));
        assert!(g("http://127.0.0.1:4455/**", "http://127.0.0.1:4455/a/b"));
        assert!(!g("http://*.internal/x", "http://a.b.internal/x"));
        assert!(g("http://**.internal/x", "http://a.b.internal/x"));
        assert!(g("http://h?st/x", "http://host/x"));
        assert!(g("http://{a,b}.example/x", "http://b.example/x"));
        assert!(g("http://[a-c]1/x", "http://b1/x"));
        assert!(!g("http://[!a-c]1/x", "http://b1/x"));
        assert!(g("http://a\\*/x", "http://a*/x"));

        let guard = Guard {
            exceptions: vec![Glob::new("http://localhost:9000")],
        };
        assert!(guard.is_exception(&"http://localhost:9000/?q=1#f".parse().unwrap()));
        assert!(!guard.is_exception(&"http://localhost:9000/p".parse().unwrap()));
    }
}
