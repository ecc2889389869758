//! An entry's history, stored as a JSON array in its row: the attempts of every delivery and
//! the notes of operators who acted on it, the last `HISTORY_LIMIT` items in all.

use serde::{Deserialize, Serialize};

/// History items kept per entry; older ones are dropped.
pub const HISTORY_LIMIT: usize = 20;

/// One HTTP attempt, or a delivery refused before any attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptItem {
    /// When it started, in ms since the epoch.
    pub at: i64,
    pub status: Option<u16>,
    pub error_kind: Option<String>,
    pub message: Option<String>,
    #[serde(default)]
    pub duration_ms: f64,
}

/// What an operator did, such as `retry`, and who.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditItem {
    pub at: i64,
    pub action: String,
    pub by: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HistoryItem {
    /// First: an attempt has no `action`, so it never reads as a note.
    Audit(AuditItem),
    Attempt(AttemptItem),
}

/// Parses a stored history; an unreadable one (a hand-edited row) reads as empty.
pub fn parse(stored: &str) -> Vec<HistoryItem> {
    serde_json::from_str(stored).unwrap_or_default()
}

/// The stored history with `new` items appended, the last `HISTORY_LIMIT` kept.
pub fn append(stored: &str, new: impl IntoIterator<Item = HistoryItem>) -> String {
    let mut items = parse(stored);
    items.extend(new);
    let excess = items.len().saturating_sub(HISTORY_LIMIT);
    serde_json::to_string(&items[excess..]).expect("history items serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(at: i64) -> HistoryItem {
        HistoryItem::Attempt(AttemptItem {
            at,
            status: Some(503),
            error_kind: Some("http".into()),
            message: Some("HTTP 503".into()),
            duration_ms: 1.5,
        })
    }

    #[test]
    fn keeps_the_latest_items_and_reads_both_kinds_back() {
        let note = HistoryItem::Audit(AuditItem {
            at: 99,
            action: "retry".into(),
            by: "ops".into(),
        });
        let stored = append("[]", (0..25).map(attempt));
        let stored = append(&stored, [note.clone()]);
        let items = parse(&stored);
        assert_eq!(items.len(), HISTORY_LIMIT);
        assert_eq!(items[0], attempt(6));
        assert_eq!(items.last(), Some(&note));
    }

    #[test]
    fn reads_the_stored_format_and_survives_a_broken_row() {
        let stored = r#"[{"at":1,"status":null,"errorKind":"config","message":"no secret","durationMs":0.0},{"at":2,"action":"retry","by":"a"}]"#;
        let items = parse(stored);
        assert!(
            matches!(&items[0], HistoryItem::Attempt(a) if a.error_kind.as_deref() == Some("config"))
        );
        assert!(matches!(&items[1], HistoryItem::Audit(n) if n.by == "a"));
        assert!(parse("not json").is_empty());
    }
}
