//! Label maps and `metav1.LabelSelector`s rendered the way `labels.Selector.String()` does:
//! requirements sorted by key, `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`.

use serde_json::Value;

use super::fields;

/// Why a selector cannot be converted (Go's `LabelSelectorAsSelector` error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum SelectorError {
    #[error("{0:?} is not a valid label selector operator")]
    Operator(String),
    #[error("invalid label selector requirement for key {0:?}")]
    Requirement(String),
}

/// `labels.FormatLabels`: `a=1,b=2` sorted by key, `<none>` when empty. Non-string values are
/// skipped because a Go `map[string]string` could not have held them.
pub(super) fn format_labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<(&str, &str)> = map
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        .collect();
    if pairs.is_empty() {
        return "<none>".to_string();
    }
    pairs.sort_unstable();
    let parts: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(",")
}

/// `LabelSelectorAsSelector(sel).String()`. A missing selector selects nothing and an empty one
/// everything; both print as `""`.
pub(super) fn selector_string(sel: Option<&Value>) -> Result<String, SelectorError> {
    let Some(sel) = sel.filter(|v| !v.is_null()) else {
        return Ok(String::new());
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(labels) = fields::obj(sel, &["matchLabels"]) {
        for (key, value) in labels {
            let value = value.as_str().unwrap_or_default();
            check_key(key)?;
            check_value(key, value)?;
            reqs.push((key.clone(), format!("{key}={value}")));
        }
    }
    for expr in fields::list_of(sel, &["matchExpressions"]) {
        let key = fields::str_of(expr, &["key"]);
        check_key(key)?;
        let mut values: Vec<&str> = fields::list_of(expr, &["values"])
            .iter()
            .map(|v| v.as_str().unwrap_or_default())
            .collect();
        for value in &values {
            check_value(key, value)?;
        }
        values.sort_unstable();
        let text = match fields::str_of(expr, &["operator"]) {
            op @ ("In" | "NotIn") => {
                if values.is_empty() {
                    return Err(SelectorError::Requirement(key.to_string()));
                }
                let word = if op == "In" { "in" } else { "notin" };
                format!("{key} {word} ({})", values.join(","))
            }
            op @ ("Exists" | "DoesNotExist") => {
                if !values.is_empty() {
                    return Err(SelectorError::Requirement(key.to_string()));
                }
                let bang = if op == "Exists" { "" } else { "!" };
                format!("{bang}{key}")
            }
            other => return Err(SelectorError::Operator(other.to_string())),
        };
        reqs.push((key.to_string(), text));
    }
    // `Selector.Add` sorts requirements by key; the sort is stable for equal keys here.
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    let parts: Vec<String> = reqs.into_iter().map(|(_, text)| text).collect();
    Ok(parts.join(","))
}

/// `metav1.FormatLabelSelector`: `<none>` for an empty result, `<error>` when invalid.
pub(super) fn format_label_selector(sel: Option<&Value>) -> String {
    match selector_string(sel) {
        Ok(text) if text.is_empty() => "<none>".to_string(),
        Ok(text) => text,
        Err(_) => "<error>".to_string(),
    }
}

/// A qualified label key: optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters of `[A-Za-z0-9-_.]`, starting and ending alphanumeric.
fn check_key(key: &str) -> Result<(), SelectorError> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    });
    if prefix_ok && !name.is_empty() && is_label_name(name) {
        Ok(())
    } else {
        Err(SelectorError::Requirement(key.to_string()))
    }
}

fn check_value(key: &str, value: &str) -> Result<(), SelectorError> {
    if value.is_empty() || is_label_name(value) {
        Ok(())
    } else {
        Err(SelectorError::Requirement(key.to_string()))
    }
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
    b.len() <= 63
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter().all(inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_sorted_or_none() {
        assert_eq!(format_labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
        assert_eq!(format_labels(Some(&json!({}))), "<none>");
        assert_eq!(format_labels(None), "<none>");
    }

    #[test]
    fn selectors_render_like_labels_selector() {
        let sel = json!({
            "matchLabels": {"tier": "web", "app": "nginx"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "example.com/gpu", "operator": "Exists"}
            ]
        });
        assert_eq!(
            format_label_selector(Some(&sel)),
            "app=nginx,!canary,env in (dev,prod),example.com/gpu,tier=web,zone notin (b)"
        );
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(selector_string(None), Ok(String::new()));
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "Like"}]});
        assert_eq!(format_label_selector(Some(&bad)), "<error>");
        let empty_in = json!({"matchExpressions": [{"key": "a", "operator": "In"}]});
        assert!(selector_string(Some(&empty_in)).is_err());
        let bad_value = json!({"matchLabels": {"a": "no spaces"}});
        assert!(selector_string(Some(&bad_value)).is_err());
    }
}
