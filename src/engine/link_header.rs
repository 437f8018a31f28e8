//! RFC 8288 `Link` headers: the next page of a `link_header` listing (ServiceNow's Table API
//! sends `first`, `prev`, `next` and `last` with every page).

use reqwest::header::HeaderMap;

/// The URL of `rel="next"` in RFC 8288 `Link` headers (`<https://…>; rel="next"`).
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(reqwest::header::LINK) {
        let Ok(text) = value.to_str() else { continue };
        for link in split_links(text) {
            let Some((target, params)) = link.trim().split_once('>') else {
                continue;
            };
            let target = target.trim().trim_start_matches('<');
            let is_next = params.split(';').any(|param| {
                let Some((name, value)) = param.split_once('=') else {
                    return false;
                };
                name.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            });
            if is_next && !target.is_empty() {
                return Some(target.to_string());
            }
        }
    }
    None
}

/// The links of a `Link` header: split at commas outside `<…>` and quotes.
fn split_links(text: &str) -> Vec<&str> {
    let mut links = Vec::new();
    let (mut start, mut in_target, mut in_quotes) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            '<' if !in_quotes => in_target = true,
            '>' if !in_quotes => in_target = false,
            '"' if !in_target => in_quotes = !in_quotes,
            ',' if !in_target && !in_quotes => {
                links.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    links.push(&text[start..]);
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_give_the_next_page() {
        let mut headers = HeaderMap::new();
        headers.append(
            reqwest::header::LINK,
            reqwest::header::HeaderValue::from_static(
                "<https://i.service-now.com/api/now/table/x?sysparm_offset=0>;rel=\"first\",\
                 <https://i.service-now.com/api/now/table/x?sysparm_offset=10,20>;rel=\"next\",\
                 <https://i.service-now.com/api/now/table/x?sysparm_offset=40>;rel=\"last\"",
            ),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("https://i.service-now.com/api/now/table/x?sysparm_offset=10,20")
        );
        let mut last = HeaderMap::new();
        last.append(
            reqwest::header::LINK,
            reqwest::header::HeaderValue::from_static("</p?page=1>; rel=\"first prev\""),
        );
        assert_eq!(next_link(&last), None);
        assert_eq!(next_link(&HeaderMap::new()), None);
    }
}
