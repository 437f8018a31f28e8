//! The source fleet API: `GET /fleet/api/devices?page=N&per_page=M[&serial=X]`, pages from 1,
//! items under a `data.items` envelope, a short or empty page at the end.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::reply::{ErrorFormat, number_param};
use super::state::Shared;

const DEFAULT_PER_PAGE: usize = 100;
const MAX_PER_PAGE: usize = 1_000;

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route(
            "/api/devices",
            get(list_devices).fallback(|| async { ErrorFormat::Json.method_not_allowed("GET") }),
        )
        .fallback(|| async { ErrorFormat::Json.not_found("no such fleet endpoint") })
}

async fn list_devices(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let format = ErrorFormat::Json;
    let page = match number_param("page", query.get("page"), 1, 1..=usize::MAX) {
        Ok(page) => page,
        Err(refusal) => return refusal.respond(format),
    };
    let per_page = match number_param(
        "per_page",
        query.get("per_page"),
        DEFAULT_PER_PAGE,
        1..=MAX_PER_PAGE,
    ) {
        Ok(per_page) => per_page,
        Err(refusal) => return refusal.respond(format),
    };
    let fleet = &state.fleet;
    // A serial filter narrows the listing to zero or one device, paged like any listing.
    let (matching, total) = match query.get("serial") {
        Some(serial) => match fleet.index_of(serial.trim()) {
            Some(index) => (index..index + 1, 1),
            None => (0..0, 0),
        },
        None => (0..fleet.len(), fleet.len()),
    };
    let skipped = (page - 1).saturating_mul(per_page);
    let start = matching.start.saturating_add(skipped).min(matching.end);
    let end = start.saturating_add(per_page).min(matching.end);
    let items: Vec<_> = (start..end)
        .filter_map(|index| fleet.device(index))
        .collect();
    Json(json!({
        "data": {"items": items, "page": page, "per_page": per_page, "total": total}
    }))
    .into_response()
}
