//! Tokens for the secured-service tests: an HS256 secret, the RS256/ES256 test keys of
//! tests/fixtures (whose public halves are tests/fixtures/jwks.json), and a server in `--auth jwt`
//! mode trusting them.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use runhub_server::Security;
use runhub_server::auth::{Authenticator, JwtSettings, JwtVerifier};
use runhub_server::limits::Limits;
use serde_json::{Map, Value, json};

use crate::helpers::TestApp;

pub const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes-long!";
pub const ISSUER: &str = "https://login.example.test/runhub/v2.0";
pub const AUDIENCE: &str = "api://runhub";
pub const JWKS: &str = include_str!("../fixtures/jwks.json");
pub const RSA_KEY: &[u8] = include_bytes!("../fixtures/rsa-private.der");
pub const RSA_OTHER_KEY: &[u8] = include_bytes!("../fixtures/rsa-other-private.der");
pub const EC_KEY: &[u8] = include_bytes!("../fixtures/ec-private.der");

pub const RUN_READ: &str = "IndustryData-Run.Read.All";
pub const RUN_RW: &str = "IndustryData-Run.ReadWrite.All";
pub const RUN_START: &str = "IndustryData-Run.Start";
pub const FLOW_READ: &str = "IndustryData-InboundFlow.Read.All";
pub const FLOW_RW: &str = "IndustryData-InboundFlow.ReadWrite.All";
pub const ALL: [&str; 5] = [RUN_READ, RUN_RW, RUN_START, FLOW_READ, FLOW_RW];

pub fn verifier() -> JwtVerifier {
    JwtVerifier::new(JwtSettings {
        secret: Some(SECRET.to_vec()),
        jwks_json: Some(JWKS.to_owned()),
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        leeway_seconds: 30,
    })
    .unwrap()
}

pub fn jwt(limits: Limits) -> Security {
    Security { auth: Authenticator::Jwt(std::sync::Arc::new(verifier())), limits }
}

/// A server in `--auth jwt` mode with default limits.
pub async fn secured() -> TestApp {
    TestApp::spawn_with(jwt(Limits::default())).await
}

pub fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

/// Valid claims for a tenant with delegated scopes.
pub fn claims(tenant: &str, scopes: &[&str]) -> Map<String, Value> {
    let mut c = json!({
        "iss": ISSUER, "aud": AUDIENCE, "tid": tenant, "sub": "test",
        "iat": now(), "nbf": now(), "exp": now() + 600,
    });
    if !scopes.is_empty() {
        c["scp"] = json!(scopes.join(" "));
    }
    c.as_object().unwrap().clone()
}

pub fn sign(claims: &Map<String, Value>, alg: Algorithm, kid: Option<&str>) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    let key = match alg {
        Algorithm::HS256 => EncodingKey::from_secret(SECRET),
        Algorithm::RS256 => EncodingKey::from_rsa_der(RSA_KEY),
        Algorithm::ES256 => EncodingKey::from_ec_der(EC_KEY),
        other => panic!("no test key for {other:?}"),
    };
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// An HS256 token for a tenant with delegated scopes (`scp`).
pub fn token(tenant: &str, scopes: &[&str]) -> String {
    sign(&claims(tenant, scopes), Algorithm::HS256, None)
}

/// An HS256 token for a tenant with application roles (`roles`).
pub fn app_token(tenant: &str, roles: &[&str]) -> String {
    let mut c = claims(tenant, &[]);
    c.insert("roles".into(), json!(roles));
    sign(&c, Algorithm::HS256, None)
}
