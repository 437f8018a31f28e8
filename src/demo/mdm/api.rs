//! The mdm system's HTTP endpoints.

use super::*;
use crate::demo::state::Shared;

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route(
            "/v1/devices",
            get(find_devices).fallback(|| async { FORMAT.method_not_allowed("GET") }),
        )
        .route(
            "/v1/devices/{id}",
            get(read_device)
                .patch(update_device)
                .options(|| async { FORMAT.options("GET, PATCH, OPTIONS") })
                .fallback(|| async { FORMAT.method_not_allowed("GET, PATCH") }),
        )
        .fallback(|| async { FORMAT.not_found("no such MDM endpoint") })
}

async fn find_devices(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(serial) = query.get("serial").map(|s| s.trim()) else {
        return FORMAT.error(
            StatusCode::BAD_REQUEST,
            "MISSING_PARAMETER",
            "devices are searched by serial: add ?serial=",
        );
    };
    let devices: Vec<_> = state
        .fleet
        .index_of(serial)
        .and_then(|index| state.mdm.record(&state.fleet, index))
        .into_iter()
        .collect();
    Json(devices).into_response()
}

async fn read_device(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    match resolve(&state.fleet, &id).and_then(|index| state.mdm.record(&state.fleet, index)) {
        Some(record) => Json(record).into_response(),
        None => FORMAT.not_found(&format!("no device with id '{id}'")),
    }
}

async fn update_device(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_json(&headers) {
        return unsupported_media_type(FORMAT, &headers);
    }
    let Some(index) = resolve(&state.fleet, &id) else {
        return FORMAT.not_found(&format!("no device with id '{id}'"));
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
    match state.mdm.write(&state.fleet, index, fields) {
        WriteVerdict::Applied => {
            let accepted_at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
            let body = json!({"id": id, "status": "accepted", "accepted_at": accepted_at});
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        WriteVerdict::Missing => FORMAT.not_found(&format!("no device with id '{id}'")),
        WriteVerdict::Throttled => {
            let mut response = FORMAT.error(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "too many device updates; retry after 1 second",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        WriteVerdict::Unavailable => FORMAT.error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "the device command queue is temporarily unavailable; try again",
        ),
        WriteVerdict::Maintenance => FORMAT.error(
            StatusCode::SERVICE_UNAVAILABLE,
            "MAINTENANCE",
            "device updates are paused for scheduled maintenance; try again later",
        ),
    }
}

fn invalid_content(message: &str) -> Response {
    FORMAT.error(StatusCode::BAD_REQUEST, "INVALID_CONTENT", message)
}
