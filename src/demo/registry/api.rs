//! The registry system's HTTP endpoints.

use super::*;
use crate::demo::state::Shared;

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route(
            "/devices",
            get(find_devices)
                .post(create_device)
                .fallback(|| async { FORMAT.method_not_allowed("GET, POST") }),
        )
        .route(
            "/devices/{id}",
            get(read_device)
                .put(replace_device)
                .options(|| async { FORMAT.options("GET, PUT, OPTIONS") })
                .fallback(|| async { FORMAT.method_not_allowed("GET, PUT") }),
        )
        .fallback(|| async { FORMAT.not_found("no such registry endpoint") })
}

async fn find_devices(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(serial) = query.get("serial").map(|s| s.trim()) else {
        return FORMAT.error(
            StatusCode::BAD_REQUEST,
            "MISSING_PARAMETER",
            "the registry is searched by serial: add ?serial=",
        );
    };
    let devices: Vec<_> = state
        .registry
        .slot_of_serial(&state.fleet, serial)
        .and_then(|slot| state.registry.record(&state.fleet, slot))
        .into_iter()
        .collect();
    Json(json!({ "devices": devices })).into_response()
}

fn record_xml(status: StatusCode, record: &Map<String, Value>) -> Response {
    let order: Vec<&str> = SCHEMA.iter().map(|(name, _)| *name).collect();
    xml(status, render(ROOT, &order, record))
}

async fn read_device(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    match slot_of_id(&state.fleet, &id).and_then(|slot| state.registry.record(&state.fleet, slot)) {
        Some(record) => record_xml(StatusCode::OK, &record),
        None => FORMAT.not_found(&format!("no device with id '{id}'")),
    }
}

async fn replace_device(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_xml(&headers) {
        return unsupported_media_type(FORMAT, &headers);
    }
    let fleet = &state.fleet;
    let Some((slot, current)) =
        slot_of_id(fleet, &id).and_then(|slot| Some((slot, state.registry.record(fleet, slot)?)))
    else {
        return FORMAT.not_found(&format!("no device with id '{id}'"));
    };
    let fields = match validated_fields(&body) {
        Ok(fields) => fields,
        Err(refusal) => return refusal.respond(FORMAT),
    };
    let serial = current.get("serial").and_then(Value::as_str);
    if let Some((_, given)) = fields.iter().find(|(name, _)| name == "serial")
        && given.as_deref() != serial
    {
        return invalid_content("serial cannot be changed; create a new device instead");
    }
    match state.registry.update(fleet, slot, fields) {
        Some(record) => record_xml(StatusCode::OK, &record),
        None => FORMAT.not_found(&format!("no device with id '{id}'")),
    }
}

async fn create_device(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if !is_xml(&headers) {
        return unsupported_media_type(FORMAT, &headers);
    }
    let fields = match validated_fields(&body) {
        Ok(fields) => fields,
        Err(refusal) => return refusal.respond(FORMAT),
    };
    let serial = fields
        .iter()
        .find(|(name, _)| name == "serial")
        .and_then(|(_, value)| value.clone());
    let Some(serial) = serial else {
        return invalid_content("serial is required to create a device");
    };
    match state.registry.create(&state.fleet, &serial, fields) {
        Ok(record) => {
            let mut response = record_xml(StatusCode::CREATED, &record);
            let id = record.get("id").and_then(Value::as_str).unwrap_or_default();
            if let Ok(location) = HeaderValue::from_str(&format!("/registry/devices/{id}")) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        Err(existing) => FORMAT.error(
            StatusCode::CONFLICT,
            "ALREADY_EXISTS",
            &format!("serial {serial} is already registered as {existing}"),
        ),
    }
}

/// The fields of an XML body, checked against the schema; the 400 that names the problem if not.
fn validated_fields(body: &[u8]) -> Result<Vec<(String, Option<String>)>, Refusal> {
    let FlatDocument { root, fields } = parse(body).map_err(|problem| match problem {
        XmlProblem::Malformed(message) => Refusal::bad_request(
            "INVALID_XML",
            format!("the body is not well-formed XML: {message}"),
        ),
        XmlProblem::Content(message) => Refusal::bad_request("INVALID_CONTENT", message),
    })?;
    if root != ROOT {
        return Err(Refusal::bad_request(
            "INVALID_CONTENT",
            format!("expected root element <{ROOT}>, got <{root}>"),
        ));
    }
    for (field, value) in &fields {
        let verdict = match value {
            Some(text) => check_text(SCHEMA, field, text),
            None => check_json(SCHEMA, field, &Value::Null),
        };
        if let Err(message) = verdict {
            let message = match (field.as_str(), value) {
                ("site", Some(site)) => format!(
                    "unknown site code '{site}' in field 'site' (known sites: {})",
                    REGISTRY_SITES.join(", ")
                ),
                _ => message,
            };
            return Err(Refusal::bad_request("INVALID_CONTENT", message));
        }
    }
    Ok(fields)
}

fn invalid_content(message: &str) -> Response {
    FORMAT.error(StatusCode::BAD_REQUEST, "INVALID_CONTENT", message)
}
