//! Who a request acts for, decided once per request by [`Authenticator::identify`] in the
//! access check (see `limits::check_access`), which puts an [`Identity`] into the request's extensions.
//! Handlers and the store only ever see the [`TenantId`] that [`tenant`] hands them.
//!
//! - `--auth none` (the default, for a local single user): every request acts for the default tenant
//!   with every permission.
//! - `--auth jwt`: `Authorization: Bearer <JWT>`, shaped like a Microsoft Entra access token: HS256
//!   with a shared secret, or RS256/ES256 with public keys from a JWKS file chosen by `kid`; `iss`,
//!   `aud`, `exp` and `nbf` checked (with a small leeway); the tenant is the `tid` claim and the
//!   permissions are the delegated `scp` (space-separated) or application `roles` (array).

use runhub_model::Code;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::Context;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use runhub_model::TenantId;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// The permissions as Microsoft Entra names them in `scp` and `roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    RunRead,
    RunReadWrite,
    RunStart,
    FlowRead,
    FlowReadWrite,
}

impl Permission {
    pub const ALL: [Permission; 5] =
        [Permission::RunRead, Permission::RunReadWrite, Permission::RunStart, Permission::FlowRead, Permission::FlowReadWrite];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::RunRead => "IndustryData-Run.Read.All",
            Permission::RunReadWrite => "IndustryData-Run.ReadWrite.All",
            Permission::RunStart => "IndustryData-Run.Start",
            Permission::FlowRead => "IndustryData-InboundFlow.Read.All",
            Permission::FlowReadWrite => "IndustryData-InboundFlow.ReadWrite.All",
        }
    }

    /// Exact (case-sensitive, as Entra issues them) match; unknown names are ignored by callers.
    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// What a caller may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grants {
    /// `--auth none`: the local single user may do everything.
    All,
    /// The recognised permissions of a token's `scp` and `roles`.
    Some(BTreeSet<Permission>),
}

impl Grants {
    pub fn has(&self, permission: Permission) -> bool {
        match self {
            Grants::All => true,
            Grants::Some(set) => set.contains(&permission),
        }
    }
}

/// The caller of a request, decided by the access layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub tenant: TenantId,
    pub grants: Grants,
    /// The calling application (`appid`, else `azp`); none without auth.
    pub application_id: Option<String>,
    /// The user or service principal (`oid`, else `sub`); none without auth.
    pub principal_id: Option<String>,
}

impl Identity {
    pub fn local() -> Self {
        Self { tenant: TenantId::default_tenant(), grants: Grants::All, application_id: None, principal_id: None }
    }
}

/// The identity the access layer put on the request.
pub fn identity(parts: &Parts) -> ApiResult<&Identity> {
    parts.extensions.get::<Identity>().ok_or_else(|| ApiError::internal("the request reached a handler without passing the access layer"))
}

/// The single entry point of tenancy: the tenant a request acts for.
pub fn tenant(parts: &Parts) -> ApiResult<TenantId> {
    identity(parts).map(|i| i.tenant.clone())
}

/// Why a bearer token was refused: each answers 401 with a message that says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    NotBearer,
    Malformed(String),
    AlgNone,
    UnsupportedAlgorithm(String),
    UnknownKey(String),
    BadSignature,
    Expired,
    NotYetValid,
    WrongAudience,
    WrongIssuer,
    MissingClaim(String),
    InvalidClaim(String),
}

impl AuthFailure {
    /// `innerError.code`.
    pub fn code(&self) -> Code {
        match self {
            AuthFailure::Missing => Code::MissingToken,
            AuthFailure::NotBearer | AuthFailure::Malformed(_) => Code::MalformedToken,
            AuthFailure::AlgNone => Code::UnsignedToken,
            AuthFailure::UnsupportedAlgorithm(_) => Code::UnsupportedTokenAlgorithm,
            AuthFailure::UnknownKey(_) => Code::UnknownSigningKey,
            AuthFailure::BadSignature => Code::InvalidSignature,
            AuthFailure::Expired => Code::TokenExpired,
            AuthFailure::NotYetValid => Code::TokenNotYetValid,
            AuthFailure::WrongAudience => Code::InvalidAudience,
            AuthFailure::WrongIssuer => Code::InvalidIssuer,
            AuthFailure::MissingClaim(_) => Code::MissingClaim,
            AuthFailure::InvalidClaim(_) => Code::InvalidClaim,
        }
    }

    pub fn message(&self) -> String {
        match self {
            AuthFailure::Missing => "this service requires a bearer token: send 'Authorization: Bearer <token>'".into(),
            AuthFailure::NotBearer => "the Authorization header is malformed: expected 'Bearer <token>'".into(),
            AuthFailure::Malformed(why) => format!("the bearer token is malformed: {why}"),
            AuthFailure::AlgNone => "the bearer token is unsigned (alg 'none'), which is never accepted".into(),
            AuthFailure::UnsupportedAlgorithm(alg) => format!("the bearer token's algorithm '{alg}' is not accepted by this service"),
            AuthFailure::UnknownKey(kid) => format!("the bearer token is signed with an unknown key (kid '{kid}')"),
            AuthFailure::BadSignature => "the bearer token's signature is invalid".into(),
            AuthFailure::Expired => "the bearer token has expired".into(),
            AuthFailure::NotYetValid => "the bearer token is not yet valid (nbf is in the future)".into(),
            AuthFailure::WrongAudience => "the bearer token was issued for another audience (aud)".into(),
            AuthFailure::WrongIssuer => "the bearer token comes from an untrusted issuer (iss)".into(),
            AuthFailure::MissingClaim(c) => format!("the bearer token has no '{c}' claim"),
            AuthFailure::InvalidClaim(c) => format!("the bearer token's '{c}' claim is invalid"),
        }
    }

    /// The Graph error: 401 `unauthenticated`, with `WWW-Authenticate: Bearer …` (RFC 6750).
    pub fn into_error(self) -> ApiError {
        let challenge = match &self {
            AuthFailure::Missing => "Bearer realm=\"runhub\"".to_owned(),
            other => {
                // The description is ours; keep it to header-safe ASCII without quotes.
                let description: String = other
                    .message()
                    .chars()
                    .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '?' })
                    .collect();
                format!("Bearer realm=\"runhub\", error=\"invalid_token\", error_description=\"{description}\"")
            }
        };
        ApiError::new(self.code(), self.message()).with_target("Authorization").with_header(header::WWW_AUTHENTICATE, challenge)
    }
}

/// `--auth`.
#[derive(Clone, Default)]
pub enum Authenticator {
    #[default]
    None,
    Jwt(std::sync::Arc<JwtVerifier>),
}

impl Authenticator {
    pub fn is_none(&self) -> bool {
        matches!(self, Authenticator::None)
    }

    /// Decides who sends this request.
    pub fn identify(&self, headers: &HeaderMap) -> Result<Identity, AuthFailure> {
        match self {
            Authenticator::None => Ok(Identity::local()),
            Authenticator::Jwt(verifier) => verifier.verify_header(headers),
        }
    }
}

/// Longest token accepted (Entra tokens are 1–3 KiB).
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Shortest HS256 secret accepted: 256 bits.
pub const MIN_SECRET_BYTES: usize = 32;

/// How tokens are verified (`--jwt-*`).
pub struct JwtVerifier {
    secret: Option<DecodingKey>,
    /// JWKS keys by `kid` (RS256 / ES256).
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    issuer: String,
    audience: String,
    leeway_seconds: u64,
}

/// The settings of `--auth jwt`.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub secret: Option<Vec<u8>>,
    pub jwks_json: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub leeway_seconds: u64,
}

/// Reads a shared secret file: its bytes, without a trailing newline; at least 256 bits.
pub fn read_secret_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = std::fs::read(path).with_context(|| format!("cannot read the JWT secret file '{}'", path.display()))?;
    while bytes.last().is_some_and(|b| b.is_ascii_whitespace()) {
        bytes.pop();
    }
    anyhow::ensure!(
        bytes.len() >= MIN_SECRET_BYTES,
        "the JWT secret in '{}' is {} bytes long; at least {MIN_SECRET_BYTES} are needed (e.g. `head -c 32 /dev/urandom | base64 > {}`)",
        path.display(),
        bytes.len(),
        path.display()
    );
    Ok(bytes)
}

impl JwtVerifier {
    pub fn new(settings: JwtSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(
            settings.secret.is_some() || settings.jwks_json.is_some(),
            "--auth jwt needs --jwt-secret-file (HS256) and/or --jwks-file (RS256/ES256)"
        );
        if let Some(secret) = &settings.secret {
            anyhow::ensure!(secret.len() >= MIN_SECRET_BYTES, "the JWT secret must be at least {MIN_SECRET_BYTES} bytes");
        }
        anyhow::ensure!(!settings.issuer.is_empty(), "--jwt-issuer must not be empty");
        anyhow::ensure!(!settings.audience.is_empty(), "--jwt-audience must not be empty");
        let mut keys = HashMap::new();
        if let Some(json) = &settings.jwks_json {
            let set: JwkSet = serde_json::from_str(json).context("the JWKS file is not a JSON Web Key Set")?;
            for jwk in &set.keys {
                let Some(kid) = jwk.common.key_id.clone() else {
                    tracing::warn!("a JWKS key without 'kid' is ignored: keys are chosen by kid");
                    continue;
                };
                let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
                    (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
                    (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256)) if ec.curve == EllipticCurve::P256 => {
                        Algorithm::ES256
                    }
                    _ => {
                        tracing::warn!(kid = %kid, "a JWKS key that is neither RS256 (RSA) nor ES256 (P-256) is ignored");
                        continue;
                    }
                };
                let key = DecodingKey::from_jwk(jwk).with_context(|| format!("the JWKS key '{kid}' is invalid"))?;
                keys.insert(kid, (alg, key));
            }
            anyhow::ensure!(!keys.is_empty(), "the JWKS file has no usable RS256 or ES256 key with a kid");
        }
        Ok(Self {
            secret: settings.secret.as_deref().map(DecodingKey::from_secret),
            keys,
            issuer: settings.issuer,
            audience: settings.audience,
            leeway_seconds: settings.leeway_seconds,
        })
    }

    fn verify_header(&self, headers: &HeaderMap) -> Result<Identity, AuthFailure> {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let Some(value) = values.next() else { return Err(AuthFailure::Missing) };
        if values.next().is_some() {
            return Err(AuthFailure::Malformed("more than one Authorization header".into()));
        }
        let text = value.to_str().map_err(|_| AuthFailure::NotBearer)?;
        let (scheme, token) = text.trim().split_once(' ').ok_or(AuthFailure::NotBearer)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthFailure::NotBearer);
        }
        self.verify(token.trim())
    }

    /// Verifies one compact JWT.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthFailure> {
        if token.is_empty() {
            return Err(AuthFailure::Malformed("the token is empty".into()));
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthFailure::Malformed(format!("the token is longer than {MAX_TOKEN_BYTES} bytes")));
        }
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 {
            return Err(AuthFailure::Malformed("a JWT has three dot-separated parts".into()));
        }
        // `alg: none` is recognised before anything else, so that it is named as such.
        let header_json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[0].trim_end_matches('='))
            .map_err(|_| AuthFailure::Malformed("the header is not base64url".into()))?;
        let header: Map<String, Value> =
            serde_json::from_slice(&header_json).map_err(|_| AuthFailure::Malformed("the header is not a JSON object".into()))?;
        let alg_name = header.get("alg").and_then(Value::as_str).ok_or_else(|| AuthFailure::Malformed("the header has no 'alg'".into()))?;
        if alg_name.eq_ignore_ascii_case("none") {
            return Err(AuthFailure::AlgNone);
        }
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1].trim_end_matches('='))
            .map_err(|_| AuthFailure::Malformed("the claims are not base64url".into()))?;
        if !serde_json::from_slice::<Value>(&payload).is_ok_and(|v| v.is_object()) {
            return Err(AuthFailure::Malformed("the claims are not a JSON object".into()));
        }
        let alg = match alg_name {
            "HS256" => Algorithm::HS256,
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            other => return Err(AuthFailure::UnsupportedAlgorithm(other.chars().take(32).collect())),
        };
        let key = match alg {
            Algorithm::HS256 => self.secret.as_ref().ok_or_else(|| AuthFailure::UnsupportedAlgorithm("HS256".into()))?,
            _ => {
                if self.keys.is_empty() {
                    return Err(AuthFailure::UnsupportedAlgorithm(alg_name.to_owned()));
                }
                let kid = header.get("kid").and_then(Value::as_str).ok_or_else(|| {
                    AuthFailure::Malformed(format!("the header of an {alg_name} token must name its signing key ('kid')"))
                })?;
                let (key_alg, key) = self.keys.get(kid).ok_or_else(|| AuthFailure::UnknownKey(kid.chars().take(64).collect()))?;
                if *key_alg != alg {
                    return Err(AuthFailure::UnsupportedAlgorithm(format!("{alg_name} with the {key_alg:?} key '{kid}'")));
                }
                key
            }
        };
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.into_kind() {
                K::InvalidSignature => AuthFailure::BadSignature,
                K::ExpiredSignature => AuthFailure::Expired,
                K::ImmatureSignature => AuthFailure::NotYetValid,
                K::InvalidAudience => AuthFailure::WrongAudience,
                K::InvalidIssuer => AuthFailure::WrongIssuer,
                K::MissingRequiredClaim(c) => AuthFailure::MissingClaim(c),
                K::InvalidClaimFormat(c) => AuthFailure::InvalidClaim(c),
                K::InvalidAlgorithm | K::MissingAlgorithm | K::InvalidAlgorithmName => {
                    AuthFailure::UnsupportedAlgorithm(alg_name.to_owned())
                }
                K::Base64(_) => AuthFailure::Malformed("a part is not base64url".into()),
                K::Json(_) | K::Utf8(_) => AuthFailure::Malformed("the claims are not a JSON object".into()),
                // Key or provider failures for a well-formed token: its signature cannot be verified.
                K::InvalidEcdsaKey | K::InvalidRsaKey(_) | K::InvalidEddsaKey | K::InvalidKeyFormat | K::Provider(_) => {
                    AuthFailure::BadSignature
                }
                _ => AuthFailure::Malformed("the token cannot be decoded".into()),
            }
        })?;
        identity_of(&data.claims)
    }
}

/// The tenant and permissions of verified claims.
fn identity_of(claims: &Map<String, Value>) -> Result<Identity, AuthFailure> {
    let tid = match claims.get("tid") {
        None | Some(Value::Null) => return Err(AuthFailure::MissingClaim("tid".into())),
        Some(Value::String(s)) => s,
        Some(_) => return Err(AuthFailure::InvalidClaim("tid".into())),
    };
    let tenant = TenantId::parse(tid).ok_or_else(|| AuthFailure::InvalidClaim("tid".into()))?;
    let mut grants = BTreeSet::new();
    match claims.get("scp") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => grants.extend(s.split_ascii_whitespace().filter_map(Permission::parse)),
        Some(_) => return Err(AuthFailure::InvalidClaim("scp".into())),
    }
    match claims.get("roles") {
        None | Some(Value::Null) => {}
        Some(Value::Array(roles)) => {
            for role in roles {
                let name = role.as_str().ok_or_else(|| AuthFailure::InvalidClaim("roles".into()))?;
                grants.extend(Permission::parse(name));
            }
        }
        Some(_) => return Err(AuthFailure::InvalidClaim("roles".into())),
    }
    let text_claim = |names: [&str; 2]| names.iter().find_map(|n| claims.get(*n).and_then(Value::as_str)).map(str::to_owned);
    Ok(Identity {
        tenant,
        grants: Grants::Some(grants),
        application_id: text_claim(["appid", "azp"]),
        principal_id: text_claim(["oid", "sub"]),
    })
}

/// What `runhub token` puts in a token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub tenant: String,
    /// Delegated permissions (`scp`, space-separated).
    pub scopes: Vec<String>,
    /// Application permissions (`roles`).
    pub roles: Vec<String>,
    pub lifetime_seconds: u64,
    pub issuer: String,
    pub audience: String,
}

/// Mints an HS256 token as `runhub serve --auth jwt --jwt-secret-file` accepts it.
pub fn mint_hs256(secret: &[u8], request: &TokenRequest) -> anyhow::Result<String> {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::String(request.issuer.clone()));
    claims.insert("aud".into(), Value::String(request.audience.clone()));
    claims.insert("tid".into(), Value::String(request.tenant.clone()));
    claims.insert("sub".into(), Value::String("runhub-token".into()));
    claims.insert("iat".into(), now.into());
    claims.insert("nbf".into(), now.into());
    claims.insert("exp".into(), now.saturating_add(request.lifetime_seconds).into());
    if !request.scopes.is_empty() {
        claims.insert("scp".into(), Value::String(request.scopes.join(" ")));
    }
    if !request.roles.is_empty() {
        claims.insert("roles".into(), Value::Array(request.roles.iter().cloned().map(Value::String).collect()));
    }
    let header = jsonwebtoken::Header::new(Algorithm::HS256);
    Ok(jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret))?)
}
