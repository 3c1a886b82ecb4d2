//! Request bodies and queries, each declared once by [`request_fields!`]: the declaration
//! is the OpenAPI schema the document prints and the fields the parser reads, so a field
//! the parser reads is one the schema lists, by construction. [`Fields`] parses what was
//! sent, collecting every problem as a field error; messages never quote values (they may
//! be secrets).

use std::fmt::Display;
use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use super::error::{ApiError, FieldError};
use crate::domain::{Invalid, Parsed};

/// Declares a request body or query once.
///
/// `struct Schema as Body { fields }`: `Schema` is the body's OpenAPI schema (derived from
/// the fields' types and `#[schema]` attributes, never built), and `Body` holds each field
/// as sent (a [`Sent`]), read from a JSON object by `Body::read`, which refuses every name
/// the declaration lacks. `struct Body { names }` declares the fields alone (a query, whose
/// document is its operation's parameters).
macro_rules! request_fields {
    (
        $(#[$outer:meta])*
        $vis:vis struct $schema:ident as $sent:ident {
            $( $(#[$inner:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        #[derive(utoipa::ToSchema)]
        $(#[$outer])*
        #[expect(dead_code, reason = "a schema: read by the OpenAPI derive, never built")]
        $vis struct $schema {
            $( $(#[$inner])* $field: $ty, )*
        }

        $crate::http::fields::request_fields!($vis struct $sent { $($field),* });
    };
    ($vis:vis struct $sent:ident { $($field:ident),* $(,)? }) => {
        #[doc = concat!("The fields of a `", stringify!($sent), "` as sent.")]
        $vis struct $sent {
            $( pub $field: $crate::http::fields::Sent, )*
        }

        impl $sent {
            /// Every field name, as the schema lists them.
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// Reads the fields out of `map`, refusing every other name at once.
            ///
            /// # Errors
            /// 422 naming every field the declaration does not have.
            #[allow(dead_code, reason = "a PATCH's parts are only taken, from one body")]
            pub fn read(
                mut map: ::serde_json::Map<String, ::serde_json::Value>,
            ) -> Result<Self, $crate::http::error::ApiError> {
                $crate::http::fields::refuse_unknown(&map, Self::FIELDS)?;
                Ok(Self::take(&mut map))
            }

            /// Takes the declared fields out of `map`, leaving any other.
            pub fn take(map: &mut ::serde_json::Map<String, ::serde_json::Value>) -> Self {
                Self {
                    $( $field: $crate::http::fields::Sent::take(map, stringify!($field)), )*
                }
            }

            /// Every field, in declaration order.
            #[allow(dead_code, reason = "not every declaration walks its fields")]
            pub fn all(&self) -> Vec<&$crate::http::fields::Sent> {
                vec![$(&self.$field),*]
            }
        }
    };
}
pub(crate) use request_fields;

/// One field of a request as sent: its declared name and its JSON value, if present.
pub struct Sent {
    name: &'static str,
    value: Option<Value>,
}

impl Sent {
    /// The field `name`, taken out of `map`.
    pub fn take(map: &mut Map<String, Value>, name: &'static str) -> Self {
        Self {
            name,
            value: map.remove(name),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether it is present, `null` included.
    pub fn sent(&self) -> bool {
        self.value.is_some()
    }

    /// Whether it is present and not `null`.
    pub fn given(&self) -> bool {
        self.value.as_ref().is_some_and(|v| !v.is_null())
    }

    /// Whether it is present as `null`.
    pub fn is_null(&self) -> bool {
        self.value.as_ref().is_some_and(Value::is_null)
    }
}

/// Refuses every name of `map` outside `allowed`, all at once and sorted.
///
/// # Errors
/// 422 naming every unknown field.
pub fn refuse_unknown(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    let mut unknown: Vec<&String> = map
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort();
    Err(ApiError::invalid(
        unknown
            .into_iter()
            .map(|k| FieldError::new(k.clone(), "is not a known field"))
            .collect(),
    ))
}

/// A field taken as text, as sent (credentials, cursors: parsed further elsewhere).
pub fn text(s: &str) -> Parsed<String> {
    Ok(s.to_owned())
}

/// The parse of a request's fields: each read by its rule, every problem kept.
#[derive(Default)]
pub struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    fn parsed<T>(&mut self, field: &Sent, r: Result<T, Invalid>) -> Option<T> {
        r.map_err(|e| self.fail(field.name, e.0)).ok()
    }

    /// A string field; `None` when absent or null.
    fn text(&mut self, field: &Sent) -> Option<String> {
        match &field.value {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.fail(field.name, "must be a string");
                None
            }
        }
    }

    /// A required string field parsed by `parse`.
    pub fn required<T>(
        &mut self,
        field: &Sent,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        if !field.given() {
            self.fail(field.name, "is required");
            return None;
        }
        self.optional(field, parse)
    }

    /// An optional string field; absent and null both mean "not given".
    pub fn optional<T>(
        &mut self,
        field: &Sent,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        let s = self.text(field)?;
        let r = parse(&s);
        self.parsed(field, r)
    }

    /// A field where null means "clear": `None` absent, `Some(None)` null.
    pub fn nullable<T>(
        &mut self,
        field: &Sent,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<Option<T>> {
        match &field.value {
            None => None,
            Some(Value::Null) => Some(None),
            Some(_) => self.optional(field, parse).map(Some),
        }
    }

    /// A list of strings parsed as a whole.
    pub fn list<T>(
        &mut self,
        field: &Sent,
        parse: impl FnOnce(&[String]) -> Result<T, Invalid>,
    ) -> Option<T> {
        let items = match &field.value {
            None | Some(Value::Null) => return None,
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.fail(field.name, "must be an array of strings");
                return None;
            }
        };
        let Some(words) = items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
        else {
            self.fail(field.name, "must be an array of strings");
            return None;
        };
        let r = parse(&words);
        self.parsed(field, r)
    }

    pub fn boolean(&mut self, field: &Sent) -> Option<bool> {
        match &field.value {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.fail(field.name, "must be true or false");
                None
            }
        }
    }

    /// A whole number within `range`.
    pub fn integer(&mut self, field: &Sent, range: RangeInclusive<u64>) -> Option<u64> {
        let n = field.value.as_ref().filter(|v| !v.is_null())?;
        self.within(field, n.as_u64(), range)
    }

    /// A whole number within `range`, written as text (a query parameter).
    pub fn integer_text(&mut self, field: &Sent, range: RangeInclusive<usize>) -> Option<usize> {
        let s = self.text(field)?;
        self.within(field, s.parse::<usize>().ok(), range)
    }

    /// `n` when it was a whole number within `range`, else a problem of `field`.
    fn within<T: PartialOrd + Display>(
        &mut self,
        field: &Sent,
        n: Option<T>,
        range: RangeInclusive<T>,
    ) -> Option<T> {
        let n = n.filter(|n| range.contains(n));
        if n.is_none() {
            let (start, end) = range.into_inner();
            self.fail(
                field.name,
                format!("must be a whole number from {start} to {end}"),
            );
        }
        n
    }

    /// A JSON object field, returned whole.
    pub fn object(&mut self, field: &Sent) -> Option<Map<String, Value>> {
        match &field.value {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(o.clone()),
            Some(_) => {
                self.fail(field.name, "must be a JSON object");
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::service::ServiceError;

    request_fields!(struct Probe { kept, cleared, missing });

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(map) => map,
            _ => panic!("a JSON object"),
        }
    }

    fn named(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Service(ServiceError::Validation(fields)) => {
                fields.into_iter().map(|f| f.field).collect()
            }
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn a_declaration_lists_its_fields_in_order_and_refuses_every_other_name_at_once() {
        assert_eq!(Probe::FIELDS, ["kept", "cleared", "missing"]);
        let refused = Probe::read(object(json!({"kept": "a", "zeta": 1, "alpha": 2})));
        assert_eq!(named(refused.err().expect("refused")), ["alpha", "zeta"]);
    }

    #[test]
    fn each_sent_field_tells_absent_from_null_from_given_under_its_declared_name() {
        let p = Probe::read(object(json!({"kept": "a", "cleared": null}))).expect("read");
        assert!(p.kept.given() && p.kept.sent());
        assert!(p.cleared.is_null() && p.cleared.sent() && !p.cleared.given());
        assert!(!p.missing.sent() && !p.missing.is_null());
        let names: Vec<&str> = p.all().into_iter().map(Sent::name).collect();
        assert_eq!(names, ["kept", "cleared", "missing"]);
    }

    #[test]
    fn every_problem_is_named_by_the_field_it_was_read_from() {
        let p = Probe::read(object(json!({"kept": 7, "cleared": null}))).expect("read");
        let mut f = Fields::new();
        assert_eq!(f.optional(&p.kept, text), None);
        assert_eq!(f.required(&p.cleared, text), None);
        assert_eq!(f.nullable(&p.cleared, text), Some(None));
        assert_eq!(f.integer_text(&p.missing, 1..=10), None);
        let e = f.finish().expect_err("refused");
        assert_eq!(named(e), ["kept", "cleared"]);
    }
}
