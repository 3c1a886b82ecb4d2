//! Reads typed fields out of a JSON object, collecting every problem as a field error and
//! refusing unknown fields by name. Messages never quote values (they may be secrets).

use serde_json::{Map, Value};

use super::error::{ApiError, FieldError};
use crate::domain::{Invalid, Parsed};

/// A field taken as text, as sent (credentials, cursors: parsed further elsewhere).
pub fn text(s: &str) -> Parsed<String> {
    Ok(s.to_owned())
}

/// A JSON object being parsed field by field.
pub struct Fields {
    map: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields {
    /// # Errors
    /// 422 naming every field outside `allowed`.
    pub fn new(map: Map<String, Value>, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut unknown: Vec<&String> = map
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .collect();
        if !unknown.is_empty() {
            unknown.sort();
            return Err(ApiError::invalid(
                unknown
                    .into_iter()
                    .map(|k| FieldError::new(k.clone(), "is not a known field"))
                    .collect(),
            ));
        }
        Ok(Self {
            map,
            errors: Vec::new(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Whether `name` is present and not null.
    pub fn given(&self, name: &str) -> bool {
        self.map.get(name).is_some_and(|v| !v.is_null())
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    fn parsed<T>(&mut self, name: &str, r: Result<T, Invalid>) -> Option<T> {
        r.map_err(|e| self.fail(name, e.0)).ok()
    }

    /// A string field; `None` when absent or null.
    fn text(&mut self, name: &str) -> Option<String> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.fail(name, "must be a string");
                None
            }
        }
    }

    /// A required string field parsed by `parse`.
    pub fn required<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        if !self.has(name) || self.map.get(name) == Some(&Value::Null) {
            self.fail(name, "is required");
            return None;
        }
        let s = self.text(name)?;
        let r = parse(&s);
        self.parsed(name, r)
    }

    /// An optional string field; absent and null both mean "not given".
    pub fn optional<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        let s = self.text(name)?;
        let r = parse(&s);
        self.parsed(name, r)
    }

    /// A field where null means "clear": `None` absent, `Some(None)` null.
    pub fn nullable<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<Option<T>> {
        match self.map.get(name) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(_) => self.optional(name, parse).map(Some),
        }
    }

    /// A list of strings parsed as a whole.
    pub fn list<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&[String]) -> Result<T, Invalid>,
    ) -> Option<T> {
        let items = match self.map.get(name) {
            None | Some(Value::Null) => return None,
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.fail(name, "must be an array of strings");
                return None;
            }
        };
        let Some(words) = items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
        else {
            self.fail(name, "must be an array of strings");
            return None;
        };
        let r = parse(&words);
        self.parsed(name, r)
    }

    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.fail(name, "must be true or false");
                None
            }
        }
    }

    /// A whole number within `range`.
    pub fn integer(&mut self, name: &str, range: std::ops::RangeInclusive<u64>) -> Option<u64> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64().filter(|n| range.contains(n)) {
                Some(n) => Some(n),
                None => {
                    self.fail(
                        name,
                        format!(
                            "must be a whole number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    );
                    None
                }
            },
        }
    }

    /// A JSON object field, returned whole.
    pub fn object(&mut self, name: &str) -> Option<Map<String, Value>> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(o.clone()),
            Some(_) => {
                self.fail(name, "must be a JSON object");
                None
            }
        }
    }

    /// # Errors
    /// 422 with every field error collected.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(self.errors))
        }
    }
}

impl Fields {
    /// The raw value of a field, if present.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }
}

/// A query string as a JSON object of strings, each parameter at most once.
///
/// # Errors
/// 422 naming every parameter given more than once.
pub fn query_object(raw: Option<&str>) -> Result<Map<String, Value>, ApiError> {
    let mut map = Map::new();
    let mut repeated = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if map
            .insert(k.to_string(), Value::String(v.to_string()))
            .is_some()
        {
            repeated.push(FieldError::new(k, "must be given once"));
        }
    }
    if repeated.is_empty() {
        Ok(map)
    } else {
        Err(ApiError::invalid(repeated))
    }
}
