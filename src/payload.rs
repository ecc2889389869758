//! The bytes we send, and what we read back from the partner's answers.

/// One sync ready to go: the exact body (as `JSON.stringify` produced it on the JS side)
/// plus the two fields the outbox and the logs need without parsing it again.
#[derive(Clone, Debug)]
pub struct SyncRequest {
    pub body: String,
    pub booking_id: String,
    pub event: String,
    /// The body's `timestamp` in ms since the epoch: later means newer.
    pub version_ms: i64,
    /// Extra headers for every attempt (W3C `traceparent`, `tracestate`): outside the signed body.
    pub headers: Vec<(String, String)>,
}

/// At most this much of a response body is read; the rest is dropped.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The partner's explanation in an error answer: the guide's `{"error": "..."}` (or a
/// `message`), else the start of the text.
pub fn partner_message(body: &str) -> Option<String> {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(body) {
        for key in ["error", "message", "detail"] {
            if let Some(serde_json::Value::String(text)) = map.get(key) {
                return Some(text.clone());
            }
        }
    }
    let text = body.trim();
    if text.is_empty() {
        return None;
    }
    Some(match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_guides_error_shape_then_falls_back_to_text() {
        assert_eq!(
            partner_message(r#"{"error":"Invalid webhook signature"}"#).as_deref(),
            Some("Invalid webhook signature")
        );
        assert_eq!(
            partner_message(r#"{"success":false,"message":"Booking not found"}"#).as_deref(),
            Some("Booking not found")
        );
        assert_eq!(
            partner_message("<html>Bad Gateway</html>").as_deref(),
            Some("<html>Bad Gateway</html>")
        );
        assert_eq!(partner_message("  "), None);
        let long = "é".repeat(300);
        assert_eq!(partner_message(&long).unwrap().chars().count(), 201);
    }
}
