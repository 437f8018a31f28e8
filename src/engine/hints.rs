//! The hints of SPEC section 4: for each symptom, the likely cause and what to check.

/// The hint for a failed write with this HTTP status (None when the table has nothing).
pub fn for_status(status: u16, code: Option<&str>) -> Option<&'static str> {
    Some(match status {
        400 if code == Some("INVALID_CONTENT") => {
            "mapped destination path or formatter mismatch: check the mapping target names and formatters"
        }
        400 => "the destination refused the payload: check the mapping target names and formatters",
        401 | 403 => "credential context rejected: check the connection's credential",
        404 => "wrong path or {id}: check the update contract path and the fetch contract id field",
        405 => "wrong update method for the endpoint: check the method in the update contract",
        415 => "JSON/XML formatter mismatch: check the formatter of the update contract",
        408 => {
            "the destination timed out reading the request: run the connection's health check, then resync"
        }
        409 => "conflict: the destination record is changing or locked: resync once it settles",
        410 => "the destination record is gone: check it in the destination, then run Single",
        413 => "the destination refused the payload's size: check the mapping for oversized values",
        422 => {
            "the destination refused the values: check the field its message names against the source record and the mapping"
        }
        423 | 425 => "the destination record is locked for now: resync later",
        429 => "rate limited: lower rate_limit_per_sec or concurrency",
        // Every other 4xx.
        402 | 406 | 407 | 411 | 412 | 414 | 416..=421 | 424 | 426..=428 | 430..=499 => {
            "the destination refused the request: read its message; a retry sends the same, so fix the cause first"
        }
        500..=599 => "destination down: run the connection's health check, then resync",
        _ => return None,
    })
}

/// The hint of a record whose `required` source field is absent or null: the field named.
pub fn missing_source(field: &str) -> String {
    format!(
        "the source record has no value for {field}, which a `required` rule needs: fix the \
         source record, or the rule (required = false, or a default)"
    )
}

/// The hint of a record whose source value a formatter cannot convert: the field named.
pub fn format_error(field: &str) -> String {
    format!(
        "a formatter cannot convert the source value of {field}: fix the source record, or the \
         field's `format` in the mapping"
    )
}

/// Words in a destination's message that say a field is not one it knows.
const UNKNOWN_FIELD_WORDS: [&str; 10] = [
    "unknown field",
    "unknown property",
    "unknown attribute",
    "unrecognized",
    "unrecognised",
    "not a known field",
    "no such field",
    "additional propert",
    "additionalpropert",
    "unexpected field",
];

/// A 400 or 422 told apart by what the destination's message says, where it says enough: a
/// field it does not know is a mapping mismatch (the target names); a field the mapping writes
/// from a source value, refused for its value, is bad source data. None when the message names
/// no field the mapping writes and no unknown field (the status's own hint stands).
pub fn for_refused_payload(
    message: &str,
    mapping: &[crate::config::MappingRule],
) -> Option<String> {
    let lower = message.to_lowercase();
    let unknown = UNKNOWN_FIELD_WORDS
        .iter()
        .any(|words| lower.contains(words));
    let named = mapping
        .iter()
        .filter(|rule| names_field(&lower, &rule.target))
        .max_by_key(|rule| rule.target.len());
    Some(match (named, unknown) {
        (Some(rule), true) => format!(
            "mapping mismatch: the destination does not know the field {} the mapping writes: \
             check the mapping target names",
            rule.target
        ),
        (None, true) => "mapping mismatch: the destination does not know a field the mapping \
                         writes: check the mapping target names"
            .to_string(),
        (Some(rule), false) if !rule.source.is_empty() => format!(
            "bad source data: the destination refused the value of {}, which the mapping takes \
             from the source's {}: correct the source record (or convert the value with a \
             format or a values table)",
            rule.target, rule.source
        ),
        (Some(rule), false) => format!(
            "the destination refused {}, a constant in the mapping: check its value",
            rule.target
        ),
        (None, false) => return None,
    })
}

/// Whether `lower` (a lower-cased message) names `target` (or its last dotted segment) as a
/// whole word.
fn names_field(lower: &str, target: &str) -> bool {
    let target = target.to_lowercase();
    let last = target.rsplit('.').next().unwrap_or(&target).to_string();
    [target, last].iter().any(|name| {
        !name.is_empty()
            && lower.match_indices(name.as_str()).any(|(at, _)| {
                let before = lower[..at].chars().next_back();
                let after = lower[at + name.len()..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !word(before) && !word(after)
            })
    })
}

/// The hint of a Failed entry nothing more specific describes: by whether a retry may fix it.
pub fn fallback(retry_may_fix: bool) -> &'static str {
    if retry_may_fix {
        "the write did not go through: read the message, check the connection's health, then resync"
    } else {
        "a retry sends the same and fails the same: fix the cause the message names, then run Single"
    }
}

/// The hint for a request that timed out or could not connect.
pub const DESTINATION_DOWN: &str =
    "destination down: run the connection's health check, then resync";

/// A record whose mapped value the write's body cannot carry (a control character in XML).
pub const UNSENDABLE_VALUE: &str = "the source value holds a character the destination's format cannot carry: correct it at the source";

/// A source record whose serial is too long to be one.
pub const SERIAL_TOO_LONG: &str =
    "what the source holds at id_field is not a serial: check [source] id_field";

/// A run where more than 20% of the records had no destination record.
pub const MISSING_DESTINATION_SPIKE: &str = "lookup path does not expose serial fields consistently: check the fetch contract path and serial_field";

/// A Completed run that wrote nothing.
pub const NOTHING_WRITTEN: &str = "no-change / skip / null-source protections prevented writes: check the field rules and the diagnostics counters";

/// A run that fetched no records.
pub const NOTHING_FETCHED: &str =
    "wrong results position: check the real envelope (the top-level keys seen are listed)";

/// A re-run with no new and no changed records.
pub const NOTHING_NEW: &str = "contracts exist and hashes match (normal on a re-run): delete a contract to re-test the create path";

/// What to check when the source's listing fails, by cause (the run's and the health check's).
pub fn for_source_listing(error: &super::listing_request::ListingError) -> Option<String> {
    use super::listing_request::ListingError;
    let hint = match error {
        ListingError::Transport { timeout: true, .. } => {
            "the source did not answer in time: check that it is up (syncdeck check), or raise \
             [source] timeout_secs"
        }
        ListingError::Transport { .. } => {
            "the source is down or unreachable: check [source] base_url, then run the check again"
        }
        ListingError::Status {
            status: 401 | 403, ..
        } => "the source rejected its credential: check [source] credential",
        ListingError::Status { status: 404, .. } => {
            "no such listing: check [source] base_url and endpoint"
        }
        ListingError::Status { status: 429, .. } => {
            "rate limited by the source: run it again later, with fewer runs at once"
        }
        ListingError::Status { status, .. } if *status >= 500 => {
            "the source is down: run the check again later"
        }
        ListingError::Status { .. } => {
            "the source refused the listing request: check [source] endpoint and the query it sends"
        }
        ListingError::ResultsPosition { .. } => NOTHING_FETCHED,
        ListingError::NotJson { .. } => {
            "the source answered something that is not JSON (a login page, a proxy?): check \
             [source] base_url, endpoint and credential"
        }
        ListingError::TooDeep { .. } => {
            "the source's answer is not a listing of records: check [source] endpoint"
        }
        ListingError::TooLarge { .. } => {
            "a page of the listing is larger than syncdeck reads: lower [source.pagination] size"
        }
        ListingError::Paging { .. } => "the listing cannot go on: check [source.pagination]",
        ListingError::Credential { .. } => super::credentials::TOKEN_HINT,
    };
    Some(hint.to_string())
}

/// The hint of a record that failed before any request (or without an HTTP answer), by its
/// reason: every Failed entry carries one (SPEC section 4). None for reasons that get theirs
/// where they are decided.
pub fn for_reason(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "missing_source" => {
            "the source record lacks a value a `required` rule needs: fix the source record, or \
             relax the rule (required = false, or a default)"
        }
        "format_error" => {
            "a formatter cannot convert the source value: fix the source record, or the field's \
             `format` in the mapping"
        }
        "ambiguous_destination" => {
            "several destination records share the serial: remove the duplicates in the \
             destination, or narrow the fetch contract (query, serial_field)"
        }
        "lookup_failed" => {
            "the lookup did not answer usably: check the fetch contract and the connection's health check"
        }
        "internal_error" => {
            "syncdeck failed on this record (a bug): keep the log file and report it; a resync tries again"
        }
        _ => return None,
    })
}

/// True for the contract-level statuses that repeat for every record (SPEC section 3):
/// `abort_after` of them in a row fail the connection run.
pub fn is_contract_level(status: u16) -> bool {
    matches!(status, 401 | 403 | 404 | 405 | 415)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(source: &str, target: &str) -> crate::config::MappingRule {
        crate::config::MappingRule {
            source: source.into(),
            value: None,
            target: target.into(),
            compare: None,
            lookup: None,
            format: None,
            required: false,
            on_null: crate::config::OnNull::Skip,
            on_same: crate::config::OnSame::Skip,
        }
    }

    #[test]
    fn a_refused_payload_tells_source_data_from_a_mapping_mismatch() {
        let mapping = [rule("location.site", "site"), rule("hw.ram", "ram_gb")];
        let data = for_refused_payload("site \"XX-9\" is not a known site", &mapping).unwrap();
        assert!(data.starts_with("bad source data"), "{data}");
        assert!(data.contains("location.site"), "{data}");
        let mismatch = for_refused_payload("Unknown field 'ram_gb'", &mapping).unwrap();
        assert!(mismatch.starts_with("mapping mismatch"), "{mismatch}");
        assert!(mismatch.contains("ram_gb"), "{mismatch}");
        let other = for_refused_payload("additionalProperties: 'colour' is not allowed", &mapping);
        assert!(other.unwrap().contains("target names"));
        // A word that merely contains a target is not it; nothing named: the table's hint.
        assert_eq!(for_refused_payload("the website is down", &mapping), None);
    }

    #[test]
    fn the_table_answers_each_symptom() {
        assert!(
            for_status(400, Some("INVALID_CONTENT"))
                .unwrap()
                .contains("mapping")
        );
        assert!(for_status(405, None).unwrap().contains("method"));
        assert!(for_status(415, None).unwrap().contains("formatter"));
        assert!(for_status(401, None).unwrap().contains("credential"));
        assert!(for_status(503, None).unwrap().contains("health check"));
        assert!(for_status(409, None).unwrap().contains("conflict"));
        assert!(for_status(418, None).unwrap().contains("refused"));
        assert_eq!(for_status(302, None), None);
        assert!(is_contract_level(405) && !is_contract_level(400));
    }
}
