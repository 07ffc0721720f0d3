//! Limits against abuse, checked around every route (by `crate::front`): request-line and header sizes (414, 431), a
//! cap on requests in flight (503), a request timeout (408), and the access layer — who is calling
//! (401) and how often (429, per tenant, or per client IP when the caller is not authenticated).
//! Connection-level limits (concurrent connections, the header read timeout) live in `serve`.

use runhub_model::Code;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use crate::auth::Authenticator;
use crate::error::ApiError;

/// Every limit, with its default.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest request target (path and query), in bytes: else 414.
    pub max_url_bytes: usize,
    /// Largest request head (all header names and values), in bytes: else 431.
    pub max_header_bytes: usize,
    /// Most headers in one request (hyper refuses more with a bare 431).
    pub max_headers: usize,
    /// Requests served at once: more get 503 with `Retry-After`.
    pub max_concurrent_requests: usize,
    /// Open connections at once: more get 503 with `Retry-After` and are closed.
    pub max_connections: usize,
    /// Time to receive the request head: a client still sending it is cut off.
    pub header_timeout: Duration,
    /// Time to receive and answer a whole request: else 408.
    pub request_timeout: Duration,
    /// Requests per second per tenant (per client IP when unauthenticated); `None`: unlimited.
    pub rate_limit: Option<f64>,
    /// How many requests may come at once before the rate applies.
    pub rate_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_url_bytes: 32 * 1024,
            max_header_bytes: 64 * 1024,
            max_headers: 128,
            max_concurrent_requests: 1024,
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            rate_limit: None,
            rate_burst: 50,
        }
    }
}

/// The per-caller rate limiter (governor's keyed GCRA limiter).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RateKey {
    Tenant(String),
    Ip(IpAddr),
}

pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<RateKey>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl RateLimit {
    /// `None` when `per_second` is not a positive finite rate.
    pub fn new(per_second: f64, burst: u32) -> Option<Self> {
        if !per_second.is_finite() || per_second <= 0.0 {
            return None;
        }
        let period = Duration::try_from_secs_f64(1.0 / per_second).ok()?.max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst.max(1))?);
        Some(Self { limiter: RateLimiter::keyed(quota), clock: DefaultClock::default(), checks: AtomicU64::new(0) })
    }

    /// `Err(seconds to wait)` when `key` is over its rate.
    pub fn check(&self, key: &RateKey) -> Result<(), u64> {
        // Forget idle callers now and then, so that the map stays small.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// Shared by the layers.
pub struct Guard {
    pub limits: Limits,
    pub auth: Authenticator,
    pub rate: Option<RateLimit>,
    pub in_flight: Semaphore,
}

impl Guard {
    pub fn new(limits: Limits, auth: Authenticator) -> Self {
        let rate = limits.rate_limit.and_then(|r| RateLimit::new(r, limits.rate_burst));
        let in_flight = Semaphore::new(limits.max_concurrent_requests.clamp(1, Semaphore::MAX_PERMITS));
        Self { limits, auth, rate, in_flight }
    }
}

fn with_close(mut response: Response) -> Response {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// 414 and 431, before anything else looks at the request: the refusal, if any.
pub fn check_sizes(guard: &Guard, request: &Request) -> Option<Response> {
    let target = request.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > guard.limits.max_url_bytes {
        return Some(with_close(
            ApiError::new(
                Code::UriTooLong,
                format!("the request URL is {target} bytes long; at most {} are accepted", guard.limits.max_url_bytes),
            )
            .into_response(),
        ));
    }
    let head: usize = request.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if head > guard.limits.max_header_bytes {
        return Some(with_close(
            ApiError::new(
                Code::RequestHeaderFieldsTooLarge,
                format!("the request headers are {head} bytes long; at most {} are accepted", guard.limits.max_header_bytes),
            )
            .into_response(),
        ));
    }
    None
}

/// A place among the requests being served; `None` when as many requests as allowed are already
/// being served (answer [`busy`]).
pub fn admit(guard: &Guard) -> Option<tokio::sync::SemaphorePermit<'_>> {
    guard.in_flight.try_acquire().ok()
}

/// The 503, with `Retry-After`, of a request [`admit`] refused.
pub fn busy(guard: &Guard) -> Response {
    ApiError::new(
        Code::TooManyConcurrentRequests,
        format!("the service is serving its maximum of {} requests at once; retry shortly", guard.limits.max_concurrent_requests),
    )
    .with_header(header::RETRY_AFTER, "1")
    .into_response()
}

/// `serve`, or 408 when the request (its body included) is not received and answered in time.
pub async fn within_timeout(guard: &Guard, serve: impl Future<Output = Response>) -> Response {
    let limit = guard.limits.request_timeout;
    match tokio::time::timeout(limit, serve).await {
        Ok(response) => response,
        Err(_) => with_close(
            ApiError::new(Code::RequestTimeout, format!("the request was not received and served within {} ms", limit.as_millis()))
                .into_response(),
        ),
    }
}

/// The access check: who is calling (401 when a token is required and not valid), then the rate
/// limit of that caller (429), keyed by tenant — or by client IP when there is no authenticated
/// tenant (`--auth none`, a refused token, `/healthz`). Puts the [`crate::auth::Identity`] on the
/// request; returns the refusal, if any.
pub fn check_access(guard: &Guard, request: &mut Request) -> Option<Response> {
    // Only the API below /beta holds anyone's data; probes (/healthz) and unknown paths (404) do not.
    let path = request.uri().path();
    let api = path == "/beta" || path.starts_with("/beta/");
    let identity = if api { Some(guard.auth.identify(request.headers())) } else { None };
    if let Some(rate) = &guard.rate {
        let key = match &identity {
            Some(Ok(id)) if !guard.auth.is_none() => RateKey::Tenant(id.tenant.as_str().to_owned()),
            _ => {
                let ip =
                    request.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), |c| c.0.ip());
                RateKey::Ip(ip)
            }
        };
        if let Err(wait) = rate.check(&key) {
            let who = match key {
                RateKey::Tenant(_) => "this tenant",
                RateKey::Ip(_) => "this client",
            };
            return Some(
                ApiError::new(
                    Code::TooManyRequests,
                    format!("{who} is sending requests faster than the service allows; retry after {} s", wait.max(1)),
                )
                .with_header(header::RETRY_AFTER, wait.max(1).to_string())
                .into_response(),
            );
        }
    }
    match identity {
        None => {}
        Some(Ok(identity)) => {
            request.extensions_mut().insert(identity);
        }
        Some(Err(failure)) => return Some(failure.into_error().into_response()),
    }
    None
}
