//! `GET /`: the OData service document.

use serde_json::{Value, json};

use crate::csdl::SINGLETON_NAME;

/// The service document: its one entry is the `industryData` singleton.
/// `metadata_url` is the absolute URL of `$metadata` (e.g. `http://host:8080/beta/$metadata`).
pub fn service_document(metadata_url: &str) -> Value {
    json!({
        "@odata.context": metadata_url,
        "value": [
            { "name": SINGLETON_NAME, "kind": "Singleton", "url": SINGLETON_NAME }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_singleton() {
        let doc = service_document("http://localhost:8080/beta/$metadata");
        assert_eq!(
            doc,
            json!({
                "@odata.context": "http://localhost:8080/beta/$metadata",
                "value": [{"name": "industryData", "kind": "Singleton", "url": "industryData"}]
            })
        );
    }
}
