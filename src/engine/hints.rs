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
        429 => "rate limited: lower rate_limit_per_sec or concurrency",
        500..=599 => "destination down: run the connection's health check, then resync",
        _ => return None,
    })
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
        assert_eq!(for_status(409, None), None);
        assert!(is_contract_level(405) && !is_contract_level(400));
    }
}
