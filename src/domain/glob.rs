//! Browse patterns: `*`, `?`, `[...]`, `{a,b}` and `**` through `globset`.
//!
//! A pattern without `/` is matched against a file's name; a pattern with `/` against the
//! file's path below the browse prefix. `*` and `?` never cross a `/`; `**` does.

use globset::{GlobBuilder, GlobMatcher};

use super::{Invalid, Parsed, reject_control_chars};

/// The longest pattern accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1024;

/// A compiled browse pattern.
#[derive(Debug, Clone)]
pub struct GlobPattern {
    source: String,
    /// `None` for `*` and `**`, which match every file without running a matcher.
    matcher: Option<GlobMatcher>,
    on_name: bool,
    case_insensitive: bool,
}

impl GlobPattern {
    /// Compiles a pattern; `case_insensitive` makes `*.mp4` match `CLIP.MP4`.
    ///
    /// # Errors
    /// When the pattern is empty, too long, has a control character or is not a valid glob.
    pub fn parse(s: &str, case_insensitive: bool) -> Parsed<Self> {
        if s.is_empty() {
            return Err(Invalid::new(
                "must not be empty; use \"*\" to match every file",
            ));
        }
        if s.len() > MAX_PATTERN_BYTES {
            return Err(Invalid::new(format!(
                "must be at most {MAX_PATTERN_BYTES} bytes"
            )));
        }
        reject_control_chars(s)?;
        let glob = GlobBuilder::new(s)
            .literal_separator(true)
            .backslash_escape(true)
            .case_insensitive(case_insensitive)
            .empty_alternates(true)
            .build()
            .map_err(|e| Invalid::new(format!("is not a valid glob: {}", e.kind())))?;
        let match_all = s == "*" || s == "**";
        Ok(Self {
            source: s.to_owned(),
            matcher: (!match_all).then(|| glob.compile_matcher()),
            on_name: !s.contains('/'),
            case_insensitive,
        })
    }

    /// Whether a file whose path below the prefix is `relative` matches.
    pub fn matches(&self, relative: &str) -> bool {
        let Some(matcher) = &self.matcher else {
            return true;
        };
        if self.on_name {
            let name = relative.rsplit('/').next().unwrap_or(relative);
            matcher.is_match(name)
        } else {
            matcher.is_match(relative)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern is matched against the file name only (it has no `/`).
    pub fn on_name(&self) -> bool {
        self.on_name
    }

    pub fn is_case_insensitive(&self) -> bool {
        self.case_insensitive
    }
}

impl Default for GlobPattern {
    fn default() -> Self {
        Self {
            source: "*".into(),
            matcher: None,
            on_name: true,
            case_insensitive: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str) -> GlobPattern {
        GlobPattern::parse(p, false).expect("valid pattern")
    }

    #[test]
    fn a_pattern_without_a_slash_matches_the_file_name_at_any_depth() {
        let g = glob("*.mp4");
        assert!(g.matches("a.mp4"));
        assert!(g.matches("day1/cam2/a.mp4"));
        assert!(!g.matches("a.mov"));
        assert!(!g.matches("a.MP4"));
    }

    #[test]
    fn case_insensitive_patterns_match_upper_case_extensions() {
        let g = GlobPattern::parse("*.mp4", true).expect("valid");
        assert!(g.matches("CLIP0001.MP4"));
    }

    #[test]
    fn a_single_star_stays_within_a_folder_and_a_double_star_crosses() {
        let one = glob("day1/*.mp4");
        assert!(one.matches("day1/a.mp4"));
        assert!(!one.matches("day1/cam/a.mp4"));
        let many = glob("day1/**/*.mp4");
        assert!(many.matches("day1/cam/a.mp4"));
        assert!(many.matches("day1/a.mp4"));
    }

    #[test]
    fn alternatives_classes_and_single_characters_work() {
        assert!(glob("*.{mp4,mov}").matches("x/b.mov"));
        assert!(glob("clip?.mp4").matches("clip7.mp4"));
        assert!(!glob("clip?.mp4").matches("clip77.mp4"));
        assert!(glob("clip[0-3].mp4").matches("clip2.mp4"));
        assert!(!glob("clip[0-3].mp4").matches("clip5.mp4"));
    }

    #[test]
    fn invalid_or_empty_patterns_are_refused() {
        assert!(GlobPattern::parse("", false).is_err());
        assert!(GlobPattern::parse("[abc", false).is_err());
        assert!(GlobPattern::parse("{a,b", false).is_err());
        assert!(GlobPattern::parse(&"*".repeat(1025), false).is_err());
    }

    #[test]
    fn the_default_pattern_matches_everything() {
        assert!(GlobPattern::default().matches("any/thing.bin"));
    }
}
