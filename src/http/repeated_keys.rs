//! Finds a key repeated within one JSON object. `serde_json::Value` keeps the last of
//! them silently, so `{"bucket": "a", "bucket": "b"}` would mean whatever the last one
//! says; the service refuses such a body instead.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The path (`name`, `credentials_json.type`, `scopes[1].x`) of the first key repeated
/// within one object, if any.
///
/// # Errors
/// When the bytes are not JSON (the caller's own parse reports that better).
pub fn first_repeated_key(bytes: &[u8]) -> Result<Option<String>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    Walk(String::new()).deserialize(&mut de)
}

/// Walks one value at `self.0`, answering the first repeated key found in it.
struct Walk(String);

impl Walk {
    fn child(&self, key: &str) -> Walk {
        if self.0.is_empty() {
            Walk(key.to_owned())
        } else {
            Walk(format!("{}.{key}", self.0))
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        let mut index = 0usize;
        while let Some(inner) = seq.next_element_seed(Walk(format!("{}[{index}]", self.0)))? {
            found = found.or(inner);
            index += 1;
        }
        Ok(found)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = HashSet::new();
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            let inner = map.next_value_seed(self.child(&key))?;
            if found.is_none() {
                found = if seen.contains(&key) {
                    Some(self.child(&key).0)
                } else {
                    inner
                };
            }
            seen.insert(key);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repeated(text: &str) -> Option<String> {
        first_repeated_key(text.as_bytes()).expect("JSON")
    }

    #[test]
    fn a_key_repeated_at_the_top_or_deeper_is_named_by_its_path() {
        assert_eq!(
            repeated(r#"{"a": 1, "b": 2, "a": 3}"#).as_deref(),
            Some("a")
        );
        assert_eq!(
            repeated(r#"{"c": {"type": "x", "type": "y"}}"#).as_deref(),
            Some("c.type")
        );
        assert_eq!(
            repeated(r#"{"s": [{"k": 1}, {"k": 1, "k": 2}]}"#).as_deref(),
            Some("s[1].k")
        );
    }

    #[test]
    fn the_same_key_in_different_objects_is_not_repeated() {
        assert_eq!(
            repeated(r#"{"a": {"x": 1}, "b": {"x": 2}, "x": [1, "x"]}"#),
            None
        );
        assert_eq!(repeated(r#"[1, true, null, 2.5, "s"]"#), None);
    }

    #[test]
    fn nesting_past_the_parsers_limit_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(first_repeated_key(deep.as_bytes()).is_err());
    }
}
