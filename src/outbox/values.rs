//! What crosses between the shared SQL and a backend: the parameters bound to a statement and
//! the rows read back, in types both drivers convert to and from; and the entry types read
//! from such rows, written once for both backends.

use super::entry::{delivered_of, Delivered, EntryRow, Purged};
use super::OutboxError;

/// A value bound to a statement. Typed even when NULL: PostgreSQL is told each parameter's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Param {
    /// A BIGINT.
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Param {
    fn from(n: i64) -> Self {
        Param::Int(Some(n))
    }
}

impl From<Option<i64>> for Param {
    fn from(n: Option<i64>) -> Self {
        Param::Int(n)
    }
}

impl From<String> for Param {
    fn from(text: String) -> Self {
        Param::Text(Some(text))
    }
}

impl From<&str> for Param {
    fn from(text: &str) -> Self {
        Param::Text(Some(text.to_string()))
    }
}

impl From<Option<&str>> for Param {
    fn from(text: Option<&str>) -> Self {
        Param::Text(text.map(str::to_string))
    }
}

/// One value of a result row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    /// What the cell holds, for messages (never its value: it may be a booking's details).
    fn kind(&self) -> &'static str {
        match self {
            Cell::Null => "NULL",
            Cell::Int(_) => "a number",
            Cell::Text(_) => "text",
        }
    }
}

/// One result row: its cells in the order of the statement's columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row(pub Vec<Cell>);

/// A Rust type a cell reads as.
pub trait FromCell: Sized {
    /// What the column should hold, for the message when it does not.
    const EXPECTED: &'static str;
    fn from_cell(cell: &Cell) -> Option<Self>;
}

impl FromCell for i64 {
    const EXPECTED: &'static str = "a number";
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Int(n) => Some(*n),
            _ => None,
        }
    }
}

impl FromCell for String {
    const EXPECTED: &'static str = "text";
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Text(text) => Some(text.clone()),
            _ => None,
        }
    }
}

impl<T: FromCell> FromCell for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Null => Some(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

impl Row {
    /// The cell at `index` as a `T`; an error when the statement returned something else.
    pub fn get<T: FromCell>(&self, index: usize) -> Result<T, OutboxError> {
        let cell = self.0.get(index);
        cell.and_then(T::from_cell)
            .ok_or_else(|| OutboxError::Column {
                index,
                expected: T::EXPECTED,
                found: cell.map_or("no column", Cell::kind),
            })
    }

    /// The entry in the first columns, in `ENTRY_COLUMNS` order.
    pub fn entry(&self) -> Result<EntryRow, OutboxError> {
        Ok(EntryRow {
            id: self.get(0)?,
            booking_id: self.get(1)?,
            event: self.get(2)?,
            body: self.get(3)?,
            state: self.get(4)?,
            attempts: self.get(5)?,
            schedule_step: self.get(6)?,
            not_found_count: self.get(7)?,
            created_at_ms: self.get(8)?,
            updated_at_ms: self.get(9)?,
            schedule_started_at_ms: self.get(10)?,
            next_attempt_at_ms: self.get(11)?,
            delivered_at_ms: self.get(12)?,
            last_status: self.get(13)?,
            last_error_kind: self.get(14)?,
            last_error: self.get(15)?,
            history: self.get(16)?,
            version_ms: self.get(17)?,
            seq: self.get(18)?,
            superseded_by: self.get(19)?,
        })
    }

    /// The booking's delivered watermark in `DELIVERED_COLUMNS`, from column `first` on.
    pub fn delivered(&self, first: usize) -> Result<Option<Delivered>, OutboxError> {
        Ok(delivered_of(
            self.get(first)?,
            self.get(first + 1)?,
            self.get(first + 2)?,
        ))
    }

    /// An entry a purge deleted: (id, booking_id).
    pub fn purged(&self) -> Result<Purged, OutboxError> {
        Ok(Purged {
            id: self.get(0)?,
            booking_id: self.get(1)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_as_their_types_and_refuse_others() {
        let row = Row(vec![Cell::Int(7), Cell::Null, Cell::Text("x".into())]);
        assert_eq!(row.get::<i64>(0).unwrap(), 7);
        assert_eq!(row.get::<Option<String>>(1).unwrap(), None);
        assert_eq!(row.get::<Option<String>>(2).unwrap().as_deref(), Some("x"));
        let wrong = row.get::<i64>(2).unwrap_err().to_string();
        assert!(wrong.contains("column 2"), "{wrong}");
        assert!(row.get::<i64>(1).is_err());
        assert!(row.get::<String>(3).is_err());
    }
}
