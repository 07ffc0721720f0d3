//! Server-driven paging, shared by every collection: `@odata.nextLink` carries every
//! original option but `$skip`, plus an opaque `$skiptoken` — a keyset cursor (the last row's
//! order-key values and id) authenticated with HMAC-SHA256. The MAC also covers the tenant, the
//! collection and the `$filter`/`$orderby` text, so a token minted for another of those is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use runhub_model::Code;
use runhub_model::TenantId;
use runhub_odata::QueryString;
use runhub_odata::ast::Value;
use serde_json::json;
use sha2::Sha256;

use crate::error::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// What a token is bound to: it is only valid for the same tenant, collection and query.
pub struct TokenScope<'a> {
    pub tenant: &'a TenantId,
    pub collection: &'a str,
    pub filter: Option<&'a str>,
    pub orderby: Option<&'a str>,
}

fn mac(secret: &[u8], scope: &TokenScope<'_>, payload: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any size");
    for part in [scope.tenant.as_str(), scope.collection, scope.filter.unwrap_or(""), scope.orderby.unwrap_or("")] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac.update(payload);
    mac
}

fn encode_value(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => json!(["n"]),
        Value::String(s) => json!(["s", s]),
        Value::Int(i) => json!(["i", i]),
        Value::Float(f) => json!(["f", f]),
        Value::Bool(b) => json!(["b", b]),
        Value::DateTime(t) => json!(["d", t]),
        Value::Enum(e) => json!(["e", e]),
    }
}

fn decode_value(v: &serde_json::Value) -> Option<Value> {
    let arr = v.as_array()?;
    Some(match (arr.first()?.as_str()?, arr.get(1)) {
        ("n", None) => Value::Null,
        ("s", Some(s)) => Value::String(s.as_str()?.to_owned()),
        ("i", Some(i)) => Value::Int(i.as_i64()?),
        ("f", Some(f)) => Value::Float(f.as_f64()?),
        ("b", Some(b)) => Value::Bool(b.as_bool()?),
        ("d", Some(t)) => Value::DateTime(t.as_i64()?),
        ("e", Some(e)) => Value::Enum(if e.is_null() { None } else { Some(e.as_i64()?) }),
        _ => return None,
    })
}

/// An opaque token: `payload.mac`, both base64url; the MAC covers the scope and the payload.
pub fn mint_payload(secret: &[u8], scope: &TokenScope<'_>, payload: &[u8]) -> String {
    let tag = mac(secret, scope, payload).finalize().into_bytes();
    format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(tag))
}

/// The payload of a token this server minted for `scope`; `None` when it is not one.
pub fn verify_payload(secret: &[u8], scope: &TokenScope<'_>, token: &str) -> Option<Vec<u8>> {
    let (payload, tag) = token.split_once('.')?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    mac(secret, scope, &payload).verify_slice(&tag).ok()?;
    Some(payload)
}

/// A keyset cursor as the JSON a token carries.
pub fn encode_cursor(cursor: &[Value]) -> Vec<serde_json::Value> {
    cursor.iter().map(encode_value).collect()
}

/// The cursor back from [`encode_cursor`]'s JSON.
pub fn decode_cursor(values: &[serde_json::Value]) -> Option<Vec<Value>> {
    values.iter().map(decode_value).collect()
}

pub fn mint(secret: &[u8], scope: &TokenScope<'_>, cursor: &[Value]) -> String {
    let payload = serde_json::to_vec(&encode_cursor(cursor)).unwrap_or_default();
    mint_payload(secret, scope, &payload)
}

fn invalid_token() -> ApiError {
    ApiError::new(
        Code::InvalidSkipToken,
        "$skiptoken is not a token this server issued for this collection and query; follow @odata.nextLink as given",
    )
    .with_target("$skiptoken")
}

/// Verifies a token and returns its cursor; `keys` is how many order keys it must carry (plus id).
pub fn verify(secret: &[u8], scope: &TokenScope<'_>, token: &str, keys: usize) -> Result<Vec<Value>, ApiError> {
    let payload = verify_payload(secret, scope, token).ok_or_else(invalid_token)?;
    let values: Vec<serde_json::Value> = serde_json::from_slice(&payload).map_err(|_| invalid_token())?;
    let cursor: Vec<Value> = decode_cursor(&values).ok_or_else(invalid_token)?;
    if cursor.len() != keys + 1 {
        return Err(invalid_token());
    }
    Ok(cursor)
}

/// The next page's URL: the request's own query minus `$skip` and `$skiptoken`, plus the new token.
pub fn next_link(collection_url: &str, query: &QueryString, token: &str) -> String {
    let kept = query.without(&["skip", "skiptoken"]);
    let sep = if kept.is_empty() { "" } else { "&" };
    format!("{collection_url}?{kept}{sep}$skiptoken={token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope<'a>(tenant: &'a TenantId, filter: Option<&'a str>) -> TokenScope<'a> {
        TokenScope { tenant, collection: "industryData/runs", filter, orderby: None }
    }

    #[test]
    fn round_trips_and_refuses_tampering() {
        let t = TenantId::default_tenant();
        let cursor = vec![Value::DateTime(5), Value::String("id".into())];
        let token = mint(b"k", &scope(&t, None), &cursor);
        assert_eq!(verify(b"k", &scope(&t, None), &token, 1).unwrap(), cursor);
        assert!(verify(b"k", &scope(&t, Some("x")), &token, 1).is_err(), "other filter");
        assert!(verify(b"k", &scope(&TenantId::parse("other").unwrap(), None), &token, 1).is_err(), "other tenant");
        assert!(verify(b"other", &scope(&t, None), &token, 1).is_err(), "other key");
        let mut tampered = token.clone();
        tampered.insert(0, 'A');
        assert!(verify(b"k", &scope(&t, None), &tampered, 1).is_err());
        assert!(verify(b"k", &scope(&t, None), "garbage", 1).is_err());
    }

    #[test]
    fn next_link_drops_skip_and_old_token() {
        let link = next_link("http://h/beta/industryData/runs", &QueryString::parse(Some("$top=2&$skip=4&%24skiptoken=x&$filter=a")), "T");
        assert_eq!(link, "http://h/beta/industryData/runs?$top=2&$filter=a&$skiptoken=T");
    }
}
