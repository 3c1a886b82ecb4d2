//! Domain types: every value a handler holds has been parsed into one of these.
//!
//! Each type has a private field and a `parse` constructor, so a value that exists is valid.

pub mod apikey;
pub mod connector;
pub mod credentials;
pub mod events;
pub mod glob;
pub mod ids;
pub mod names;
pub mod paths;
#[cfg(test)]
mod properties;
pub mod scopes;
pub mod timestamp;

/// Why a value was refused: a sentence fragment for a person, without the field name
/// (the caller knows which field it parsed), e.g. "must be 3-63 characters".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Shorthand for the result of a `parse` constructor.
pub type Parsed<T> = Result<T, Invalid>;

/// Refuses any control character (C0, DEL and C1), which have no place in names or paths.
pub(crate) fn reject_control_chars(s: &str) -> Parsed<()> {
    if s.chars().any(char::is_control) {
        return Err(Invalid::new("must not contain control characters"));
    }
    Ok(())
}
