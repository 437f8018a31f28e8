//! The cmdb system's HTTP endpoints.

use super::*;
use crate::demo::state::Shared;

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route(
            "/api/assets",
            get(list_assets).fallback(|| async { FORMAT.method_not_allowed("GET") }),
        )
        .route(
            "/api/assets/{sys_id}",
            get(read_asset)
                .patch(update_asset)
                .options(|| async { FORMAT.options("GET, PATCH, OPTIONS") })
                .fallback(|| async { FORMAT.method_not_allowed("GET, PATCH") }),
        )
        .fallback(|| async { FORMAT.not_found("no such CMDB endpoint") })
}

async fn list_assets(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let fleet = &state.fleet;
    if let Some(serial) = query.get("serial_number") {
        let result: Vec<_> = fleet
            .index_of(serial.trim())
            .and_then(|index| state.cmdb.record(fleet, index))
            .into_iter()
            .collect();
        return Json(json!({ "result": result })).into_response();
    }
    let offset = match number_param(
        "sysparm_offset",
        query.get("sysparm_offset"),
        0,
        0..=usize::MAX,
    ) {
        Ok(offset) => offset,
        Err(refusal) => return refusal.respond(FORMAT),
    };
    let limit = match number_param(
        "sysparm_limit",
        query.get("sysparm_limit"),
        DEFAULT_LIMIT,
        1..=MAX_LIMIT,
    ) {
        Ok(limit) => limit,
        Err(refusal) => return refusal.respond(FORMAT),
    };
    let present = &state.cmdb.present;
    let start = offset.min(present.len());
    let end = start.saturating_add(limit).min(present.len());
    let result: Vec<_> = present[start..end]
        .iter()
        .filter_map(|index| state.cmdb.record(fleet, *index))
        .collect();
    // As ServiceNow's Table API does: the count of the whole listing in X-Total-Count.
    (
        [("X-Total-Count", present.len().to_string())],
        Json(json!({ "result": result })),
    )
        .into_response()
}

fn resolve(state: &Shared, sys_id: &str) -> Option<usize> {
    let index = usize::try_from(index_of_opaque_id(state.fleet.seed(), ID_SYSTEM, sys_id)?).ok()?;
    (index < state.fleet.len() && state.fleet.in_cmdb(index)).then_some(index)
}

async fn read_asset(State(state): State<Shared>, Path(sys_id): Path<String>) -> Response {
    match resolve(&state, &sys_id).and_then(|index| state.cmdb.record(&state.fleet, index)) {
        Some(record) => Json(json!({ "result": record })).into_response(),
        None => FORMAT.not_found(&format!("no asset with sys_id '{sys_id}'")),
    }
}

async fn update_asset(
    State(state): State<Shared>,
    Path(sys_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_json(&headers) {
        return unsupported_media_type(FORMAT, &headers);
    }
    let Some(index) = resolve(&state, &sys_id) else {
        return FORMAT.not_found(&format!("no asset with sys_id '{sys_id}'"));
    };
    let fields = match serde_json::from_slice::<Value>(&body) {
        Ok(value) => match flatten(&value) {
            Ok(fields) => fields,
            Err(message) => return invalid_content(&message),
        },
        Err(error) => {
            return FORMAT.error(
                StatusCode::BAD_REQUEST,
                "INVALID_JSON",
                &format!("the body is not valid JSON: {error}"),
            );
        }
    };
    if let Some(message) = fields
        .iter()
        .find_map(|(field, value)| check_json(SCHEMA, field, value).err())
    {
        return invalid_content(&message);
    }
    match state.cmdb.update(&state.fleet, index, fields) {
        Some(record) => Json(json!({ "result": record })).into_response(),
        None => FORMAT.not_found(&format!("no asset with sys_id '{sys_id}'")),
    }
}

fn invalid_content(message: &str) -> Response {
    FORMAT.error(StatusCode::BAD_REQUEST, "INVALID_CONTENT", message)
}
