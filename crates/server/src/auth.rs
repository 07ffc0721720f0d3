//! Who a request acts for. Without authentication (the default, for a local single user) every
//! request acts for the default tenant; handlers and the store only ever see a `TenantId`, so adding
//! token-based tenants changes this module alone.

use axum::http::request::Parts;
use runhub_model::TenantId;

use crate::error::ApiResult;

pub fn tenant(_parts: &Parts) -> ApiResult<TenantId> {
    Ok(TenantId::default_tenant())
}
