//! Object-key prefixes: the export boundary a connector writes under, and browse prefixes.

use serde::{Deserialize, Serialize};

use super::{Invalid, Parsed, reject_control_chars};

/// The most bytes an object-key prefix may take (S3 and GCS keys stop at 1024 bytes).
pub const MAX_PREFIX_BYTES: usize = 1024;

/// A relative object-key prefix that exports stay inside, stored with one trailing `/`.
///
/// No leading `/`, no `.` or `..` segments, no empty segments, no backslashes or control
/// characters, at most 1024 bytes once normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExportBasePath(String);

impl ExportBasePath {
    /// # Errors
    /// When the path is empty, absolute, escapes upwards or has a forbidden character.
    pub fn parse(s: &str) -> Parsed<Self> {
        if s.is_empty() {
            return Err(Invalid::new(
                "must not be empty; send null for the whole bucket or container",
            ));
        }
        let body = s.strip_suffix('/').unwrap_or(s);
        check_relative(s, body)?;
        let normalised = format!("{body}/");
        if normalised.len() > MAX_PREFIX_BYTES {
            return Err(Invalid::new(format!(
                "must be at most {MAX_PREFIX_BYTES} bytes"
            )));
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The export boundary's rules for a relative key or prefix `s` (whose segments, without
/// a trailing `/`, are `body`): no leading `/`, no backslashes or control characters, no
/// empty, `.` or `..` segments in any spelling a consumer could decode.
fn check_relative(s: &str, body: &str) -> Parsed<()> {
    reject_control_chars(s)?;
    if s.starts_with('/') {
        return Err(Invalid::new("must be relative (no leading '/')"));
    }
    if s.contains('\\') {
        return Err(Invalid::new("must not contain backslashes"));
    }
    for segment in body.split('/') {
        match segment {
            "" => return Err(Invalid::new("must not contain empty segments ('//')")),
            "." | ".." => {
                return Err(Invalid::new("must not contain '.' or '..' segments"));
            }
            s if reads_as_dots(s) => {
                return Err(Invalid::new(
                    "must not contain segments that read as '.' or '..' once \
                     percent-decoded or Unicode-normalised (such as '%2e%2e' or '．．')",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A sub-prefix of the export boundary an export job writes under: `""` (the boundary
/// itself) or a relative prefix under the same rules as [`ExportBasePath`], stored with
/// one trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subpath(String);

impl Subpath {
    /// # Errors
    /// When the subpath is absolute, escapes upwards, has a forbidden character or is
    /// longer than 1024 bytes.
    pub fn parse(s: &str) -> Parsed<Self> {
        if s.is_empty() {
            return Ok(Self::default());
        }
        ExportBasePath::parse(s).map(|p| Self(p.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An object key relative to a granted prefix: the export boundary's rules, and never a
/// prefix itself (no trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelativeKey(String);

impl RelativeKey {
    /// # Errors
    /// When the key is empty, ends with `/`, escapes upwards, has a forbidden character or
    /// is longer than 1024 bytes.
    pub fn parse(s: &str) -> Parsed<Self> {
        if s.is_empty() {
            return Err(Invalid::new("must not be empty"));
        }
        if s.ends_with('/') {
            return Err(Invalid::new(
                "must name an object, not a prefix (no trailing '/')",
            ));
        }
        check_relative(s, s)?;
        if s.len() > MAX_PREFIX_BYTES {
            return Err(Invalid::new(format!(
                "must be at most {MAX_PREFIX_BYTES} bytes"
            )));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a segment becomes `.` or `..` for a consumer that percent-decodes object keys
/// or folds Unicode compatibility forms (full-width `．`, the two-dot leader `‥`): such a
/// segment would escape the export boundary there, though not in the bucket itself.
fn reads_as_dots(segment: &str) -> bool {
    use unicode_normalization::UnicodeNormalization;
    let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
    let folded: String = decoded.nfkc().collect();
    folded == "." || folded == ".."
}

impl TryFrom<String> for ExportBasePath {
    type Error = Invalid;
    fn try_from(s: String) -> Parsed<Self> {
        Self::parse(&s)
    }
}

impl From<ExportBasePath> for String {
    fn from(p: ExportBasePath) -> Self {
        p.0
    }
}

/// The key prefix a browse lists under: any text of at most 1024 bytes without control
/// characters; `""` is the whole bucket. Object keys may legitimately contain `..` or start
/// with `/`, so browsing does not refuse them: it only reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrowsePrefix(String);

impl BrowsePrefix {
    /// # Errors
    /// When the prefix is too long or contains a control character.
    pub fn parse(s: &str) -> Parsed<Self> {
        if s.len() > MAX_PREFIX_BYTES {
            return Err(Invalid::new(format!(
                "must be at most {MAX_PREFIX_BYTES} bytes"
            )));
        }
        reject_control_chars(s)?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_paths_are_stored_with_one_trailing_slash() {
        assert_eq!(
            ExportBasePath::parse("exports/review").map(String::from),
            Ok("exports/review/".into())
        );
        assert_eq!(
            ExportBasePath::parse("exports/review/").map(String::from),
            Ok("exports/review/".into())
        );
        assert_eq!(
            ExportBasePath::parse("a").map(String::from),
            Ok("a/".into())
        );
    }

    #[test]
    fn export_paths_that_escape_or_are_malformed_are_refused() {
        for bad in [
            "", "/abs", "a//b", "a/../b", "..", "./a", "a/.", "a\\b", "a\u{0}b", "a/\nb", "//",
            "a//",
        ] {
            assert!(ExportBasePath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn export_paths_with_dot_segments_in_another_encoding_are_refused() {
        for bad in [
            "a/%2e%2e/b",
            "%2E%2e",
            ".%2e",
            "%2e",
            "a/\u{ff0e}\u{ff0e}",
            "\u{2025}/b",
            "%EF%BC%8E",
        ] {
            assert!(ExportBasePath::parse(bad).is_err(), "{bad:?}");
        }
        for good in ["v1..2", "...", "%2e%2e%2e", "cafe\u{301}", "100%", "a/%zz"] {
            assert!(ExportBasePath::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn export_paths_are_bounded_in_bytes_after_normalisation() {
        assert!(ExportBasePath::parse(&"a".repeat(1023)).is_ok());
        assert!(ExportBasePath::parse(&"a".repeat(1024)).is_err());
    }

    #[test]
    fn browse_prefixes_allow_any_key_text_but_control_characters() {
        assert!(BrowsePrefix::parse("").is_ok());
        assert!(BrowsePrefix::parse("incoming/2026/04/").is_ok());
        assert!(BrowsePrefix::parse("a\tb").is_err());
        assert!(BrowsePrefix::parse(&"x".repeat(1025)).is_err());
    }
}
