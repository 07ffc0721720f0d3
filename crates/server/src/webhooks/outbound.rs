//! Requests to addresses users give us — a classic server-side request forgery hole — made safe:
//! `https` only unless allowed, no loopback/private/link-local/metadata destinations unless
//! allowed (checked on the addresses the name resolves to at every request, as DNS can change,
//! and the connection goes only to the addresses checked), no redirects, no proxies, bounded
//! reads, timeouts, and never any of the service's own credentials.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use runhub_model::NotificationUrl;

/// Replies are read up to this many bytes; the rest is never read.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// What may be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// `--webhook-allow-http`: plain `http://` URLs too.
    pub allow_http: bool,
    /// `--webhook-allow-private`: loopback, private and link-local destinations too.
    pub allow_private: bool,
}

/// Why a request was not made, or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The destination is not allowed (said before anything is sent).
    #[error("{0}")]
    Refused(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Failed(String),
}

/// A reply, its body cut at [`MAX_REPLY_BYTES`].
#[derive(Debug)]
pub struct Reply {
    pub status: reqwest::StatusCode,
    pub body: Vec<u8>,
}

/// Whether an address is one the public internet routes to.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, cloud metadata services included
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b)) // NAT64: an IPv4 address in disguise
}

fn refuse_address(host: &str, ip: IpAddr) -> OutboundError {
    OutboundError::Refused(format!(
        "'{host}' is {ip}, a loopback, private, link-local or otherwise non-public address; such destinations are refused \
         (the server's --webhook-allow-private allows them)"
    ))
}

/// Resolves names and refuses the lot when any address is not allowed; the connection goes only
/// to the addresses checked here.
#[derive(Debug, Clone)]
struct CheckedResolver(Policy);

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("'{host}' resolves to no address").into());
            }
            if !policy.allow_private
                && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip()))
            {
                return Err(Box::new(refuse_address(&host, bad.ip())) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client of webhook deliveries and validation requests.
#[derive(Debug, Clone)]
pub struct Outbound {
    policy: Policy,
    client: reqwest::Client,
}

impl Outbound {
    pub fn new(policy: Policy) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(3))
            .dns_resolver(Arc::new(CheckedResolver(policy)))
            .user_agent(concat!("runhub/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
            .build()
            .expect("the webhook HTTP client builds with static settings");
        Self { policy, client }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Checks what can be checked without a request: the scheme, and an address given literally
    /// (names are checked as they resolve, at every request).
    pub fn check(&self, url: &NotificationUrl) -> Result<(), OutboundError> {
        let parsed = url::Url::parse(url.as_str()).map_err(|e| OutboundError::Refused(format!("not a URL: {e}")))?;
        if parsed.scheme() != "https" && !self.policy.allow_http {
            return Err(OutboundError::Refused("must be an https:// URL (the server's --webhook-allow-http allows http:// too)".into()));
        }
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal
            && !self.policy.allow_private
            && !is_public(ip)
        {
            return Err(refuse_address(parsed.host_str().unwrap_or_default(), ip));
        }
        Ok(())
    }

    /// Resolves the URL's host now and checks every address (for a clear answer at creation).
    pub async fn check_resolved(&self, url: &NotificationUrl) -> Result<(), OutboundError> {
        self.check(url)?;
        let parsed = url::Url::parse(url.as_str()).map_err(|e| OutboundError::Refused(format!("not a URL: {e}")))?;
        let Some(url::Host::Domain(host)) = parsed.host() else { return Ok(()) };
        let name: Name = host.parse().map_err(|_| OutboundError::Refused(format!("'{host}' is not a host name")))?;
        CheckedResolver(self.policy).resolve(name).await.map(|_| ()).map_err(|e| match e.downcast::<OutboundError>() {
            Ok(refused) => *refused,
            Err(other) => OutboundError::Failed(format!("'{host}' cannot be resolved: {other}")),
        })
    }

    /// POSTs `body` to `url` (after [`Outbound::check`]); the whole exchange — connecting,
    /// sending, the reply and up to [`MAX_REPLY_BYTES`] of its body — within `timeout`.
    pub async fn post(&self, url: &str, content_type: &str, body: String, timeout: Duration) -> Result<Reply, OutboundError> {
        let exchange = async {
            let mut response = self
                .client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let status = response.status();
            let mut body = Vec::new();
            while body.len() < MAX_REPLY_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(MAX_REPLY_BYTES - body.len())]),
                    Ok(None) => break,
                    // The status is what counts; a body cut short is still a reply.
                    Err(_) => break,
                }
            }
            Ok(Reply { status, body })
        };
        tokio::time::timeout(timeout, exchange).await.map_err(|_| OutboundError::Timeout(timeout))?
    }
}

/// The most telling cause of a failed request (a refusal of the resolver stays a refusal).
fn describe(error: &reqwest::Error) -> OutboundError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<OutboundError>() {
            return refused.clone();
        }
        source = e.source();
    }
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    OutboundError::Failed(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn schemes_and_literal_addresses_follow_the_policy() {
        let url = |s: &str| NotificationUrl::parse("notificationUrl", s).unwrap();
        let strict = Outbound::new(Policy::default());
        assert!(strict.check(&url("https://93.184.216.34/hook")).is_ok());
        assert!(strict.check(&url("http://93.184.216.34/hook")).is_err());
        assert!(strict.check(&url("https://127.0.0.1/hook")).is_err());
        assert!(strict.check(&url("https://[::1]/hook")).is_err());
        let open = Outbound::new(Policy { allow_http: true, allow_private: true });
        assert!(open.check(&url("http://127.0.0.1:9/hook")).is_ok());
    }
}
