//! The runhub HTTP service: the Microsoft Graph `industryData` run API over a [`runhub_store::Store`].

pub mod app;
pub mod application;
pub mod auth;
pub mod cli;
pub mod dashboard;
pub mod duration;
pub mod error;
pub mod feed;
pub mod front;
pub mod limits;
pub mod metrics;
pub mod paging;
pub mod path;
pub mod permissions;
pub mod protocol;
pub mod render;
pub mod router;
pub mod routes;
pub mod scheduler;
pub mod serve;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod upkeep;
pub mod webhooks;

pub use app::{AppState, Security, Services, router, router_full, router_with};
pub use application::{Application, Settings, StoreSettings};
pub use feed::{Feed, FeedSettings};
