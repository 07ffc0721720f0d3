//! The HTTP helper the black-box tests that drive a server over plain reqwest share: one request,
//! its status and its body as JSON (a string when the body is not JSON, null when empty).

use serde_json::Value;

pub async fn send(c: &reqwest::Client, method: reqwest::Method, url: &str, body: Option<Value>, headers: &[(&str, &str)]) -> (u16, Value) {
    let (status, _, body) = send_with_headers(c, method, url, body, headers).await;
    (status.as_u16(), body)
}

/// [`send`], with the reply's headers.
pub async fn send_with_headers(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = c.request(method, url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let text = resp.text().await.unwrap();
    (status, headers, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
}
