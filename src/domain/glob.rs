//! Browse patterns: `*`, `?`, `[...]`, `{a,b}` and `**`, parsed by `globset` and compiled
//! by `regex-automata` with explicit bounds.
//!
//! A pattern without `/` is matched against a file's name; a pattern with `/` against the
//! file's path below the browse prefix. `*` and `?` never cross a `/`; `**` does.
//!
//! Every pattern is bounded before it is compiled (brace nesting, alternatives, `**` runs,
//! compiled size), and compiled only through constructors that return errors: globset's own
//! matcher constructor panics on a regex the engine refuses, and the release build aborts
//! on a panic.

use globset::GlobBuilder;
use regex_automata::meta::Regex;
use regex_automata::util::syntax;

use super::{Invalid, Parsed, reject_control_chars};

/// The longest pattern accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1024;
/// The deepest nesting of `{...}` groups accepted.
pub const MAX_BRACE_DEPTH: usize = 8;
/// The most alternatives accepted, counted over every `{...}` group of the pattern.
pub const MAX_ALTERNATIVES: usize = 128;
/// The most `**` runs accepted.
pub const MAX_RECURSIVE_WILDCARDS: usize = 8;
/// The largest compiled matcher accepted, in bytes of its automaton.
const MAX_COMPILED_BYTES: usize = 1 << 20;
/// The lazy DFA's cache per matcher; past it the engine falls back to a slower search,
/// never to an error.
const MATCH_CACHE_BYTES: usize = 2 << 20;
/// The regex parser's own nesting bound, above anything `MAX_BRACE_DEPTH` produces.
const MAX_REGEX_NESTING: u32 = 64;

/// A compiled browse pattern.
#[derive(Clone)]
pub struct GlobPattern {
    source: String,
    /// `None` for `*` and `**`, which match every file without running a matcher.
    matcher: Option<Regex>,
    on_name: bool,
    case_insensitive: bool,
}

impl GlobPattern {
    /// Compiles a pattern; `case_insensitive` makes `*.mp4` match `CLIP.MP4`.
    ///
    /// # Errors
    /// When the pattern is empty, too long, has a control character, is not a valid glob,
    /// or passes one of the complexity bounds above.
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
        Complexity::of(s).check()?;
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
            matcher: if match_all {
                None
            } else {
                Some(compile(glob.regex())?)
            },
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
            matcher.is_match(name.as_bytes())
        } else {
            matcher.is_match(relative.as_bytes())
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

impl std::fmt::Debug for GlobPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobPattern")
            .field("source", &self.source)
            .field("case_insensitive", &self.case_insensitive)
            .finish_non_exhaustive()
    }
}

/// Compiles globset's translation of a pattern with the same engine settings as globset's
/// own matcher, but bounded and fallible.
fn compile(regex: &str) -> Parsed<Regex> {
    let syntax = syntax::Config::new()
        .utf8(false)
        .dot_matches_new_line(true)
        .nest_limit(MAX_REGEX_NESTING);
    let config = Regex::config()
        .utf8_empty(false)
        .nfa_size_limit(Some(MAX_COMPILED_BYTES))
        .hybrid_cache_capacity(MATCH_CACHE_BYTES);
    Regex::builder()
        .syntax(syntax)
        .configure(config)
        .build(regex)
        .map_err(|_| {
            Invalid::new("is too complex to match; use fewer wildcards, classes and alternatives")
        })
}

/// What makes a pattern expensive, counted the way globset reads it: escapes skipped, and
/// nothing inside a `[...]` class counted.
#[derive(Debug, Default, PartialEq, Eq)]
struct Complexity {
    brace_depth: usize,
    alternatives: usize,
    recursive_wildcards: usize,
}

impl Complexity {
    fn of(pattern: &str) -> Self {
        let mut found = Self::default();
        let mut depth = 0usize;
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '[' => {
                    // A class: an optional negation, then a `]` that is literal when first.
                    if matches!(chars.peek(), Some('!' | '^')) {
                        chars.next();
                    }
                    if chars.peek() == Some(&']') {
                        chars.next();
                    }
                    for c in chars.by_ref() {
                        if c == ']' {
                            break;
                        }
                    }
                }
                '{' => {
                    depth += 1;
                    found.brace_depth = found.brace_depth.max(depth);
                    found.alternatives += 1;
                }
                '}' => depth = depth.saturating_sub(1),
                ',' if depth > 0 => found.alternatives += 1,
                '*' if chars.peek() == Some(&'*') => {
                    while chars.peek() == Some(&'*') {
                        chars.next();
                    }
                    found.recursive_wildcards += 1;
                }
                _ => {}
            }
        }
        found
    }

    fn check(&self) -> Parsed<()> {
        if self.brace_depth > MAX_BRACE_DEPTH {
            return Err(Invalid::new(format!(
                "nests {{...}} groups {} deep; at most {MAX_BRACE_DEPTH} are allowed",
                self.brace_depth
            )));
        }
        if self.alternatives > MAX_ALTERNATIVES {
            return Err(Invalid::new(format!(
                "has {} alternatives in {{...}} groups; at most {MAX_ALTERNATIVES} are allowed",
                self.alternatives
            )));
        }
        if self.recursive_wildcards > MAX_RECURSIVE_WILDCARDS {
            return Err(Invalid::new(format!(
                "has {} `**` wildcards; at most {MAX_RECURSIVE_WILDCARDS} are allowed",
                self.recursive_wildcards
            )));
        }
        Ok(())
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
    fn non_ascii_names_match_with_and_without_case() {
        assert!(glob("vidéo-*.mp4").matches("jour1/vidéo-01.mp4"));
        assert!(!glob("vidéo-*.mp4").matches("video-01.mp4"));
        let ci = GlobPattern::parse("VIDÉO-*.MP4", true).expect("valid");
        assert!(ci.matches("VIDÉO-01.mp4"));
        assert!(ci.matches("vidÉo-01.Mp4"));
    }

    #[test]
    fn invalid_or_empty_patterns_are_refused() {
        assert!(GlobPattern::parse("", false).is_err());
        assert!(GlobPattern::parse("[abc", false).is_err());
        assert!(GlobPattern::parse("{a,b", false).is_err());
        assert!(GlobPattern::parse(&"*".repeat(1025), false).is_err());
    }

    /// `{{{…{a,b},b}…,b}`: braces nested `depth` deep.
    fn nested_braces(depth: usize) -> String {
        let mut p = "a".to_owned();
        for _ in 0..depth {
            p = format!("{{{p},b}}");
        }
        p
    }

    #[test]
    fn braces_nested_past_the_limit_are_refused_with_a_reason_and_without_the_pattern() {
        for depth in [MAX_BRACE_DEPTH + 1, 124, 125, 130, 200] {
            let pattern = nested_braces(depth);
            let err = GlobPattern::parse(&pattern, false).expect_err("too deep");
            assert!(err.0.contains("deep"), "{}", err.0);
            assert!(
                !err.0.contains("{a,b}"),
                "the message echoes the pattern: {}",
                err.0
            );
        }
    }

    #[test]
    fn braces_nested_up_to_the_limit_compile_and_match() {
        let g = glob(&nested_braces(MAX_BRACE_DEPTH));
        assert!(g.matches("x/a"));
        assert!(g.matches("b"));
        assert!(!g.matches("c"));
    }

    #[test]
    fn alternatives_past_the_limit_are_refused() {
        let within = format!("*.{{{}}}", vec!["mp4"; MAX_ALTERNATIVES].join(","));
        assert!(GlobPattern::parse(&within, false).is_ok());
        let past = format!("*.{{{}}}", vec!["mp4"; MAX_ALTERNATIVES + 1].join(","));
        let err = GlobPattern::parse(&past, false).expect_err("too many");
        assert!(err.0.contains("alternatives"), "{}", err.0);
    }

    #[test]
    fn recursive_wildcards_past_the_limit_are_refused() {
        let within = ["**"; MAX_RECURSIVE_WILDCARDS].join("/x/");
        assert!(GlobPattern::parse(&within, false).is_ok());
        let past = ["**"; MAX_RECURSIVE_WILDCARDS + 1].join("/x/");
        let err = GlobPattern::parse(&past, false).expect_err("too many");
        assert!(err.0.contains("**"), "{}", err.0);
    }

    #[test]
    fn braces_and_stars_inside_classes_or_escaped_are_not_counted() {
        let c = Complexity::of(r"[{*,}]\{\*\*[!]{]**");
        assert_eq!(
            c,
            Complexity {
                brace_depth: 0,
                alternatives: 0,
                recursive_wildcards: 1
            }
        );
    }

    #[test]
    fn a_matcher_past_the_compiled_size_bound_is_an_error_not_a_panic() {
        let err = compile("(?:a{1000}){1000}").expect_err("too large");
        assert!(err.0.contains("too complex"), "{}", err.0);
        let err =
            compile(&format!("{}a{}", "(".repeat(100), ")".repeat(100))).expect_err("too deep");
        assert!(err.0.contains("too complex"), "{}", err.0);
    }

    proptest::proptest! {
        /// Any sequence of glob syntax, balanced or not, compiles or is refused: never a
        /// panic (the release build would abort).
        #[test]
        fn compiling_any_glob_never_panics(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("{".to_owned()),
                    proptest::strategy::Just("}".to_owned()),
                    proptest::strategy::Just(",".to_owned()),
                    proptest::strategy::Just("*".to_owned()),
                    proptest::strategy::Just("**".to_owned()),
                    proptest::strategy::Just("?".to_owned()),
                    proptest::strategy::Just("/".to_owned()),
                    proptest::strategy::Just("\\".to_owned()),
                    proptest::strategy::Just("[".to_owned()),
                    proptest::strategy::Just("]".to_owned()),
                    proptest::strategy::Just("[!".to_owned()),
                    proptest::strategy::Just("-".to_owned()),
                    "[a-zA-Z0-9.é]{1,3}",
                ],
                0..200,
            ),
            case_insensitive: bool,
            path in "[a-z/.{},*é]{0,20}",
        ) {
            let pattern: String = parts.concat();
            if let Ok(g) = GlobPattern::parse(&pattern, case_insensitive) {
                let _ = g.matches(&path);
            }
        }

        /// Deep and wide brace structures, generated as trees, never panic either.
        #[test]
        fn compiling_nested_alternatives_never_panics(
            depth in 0usize..160,
            width in 1usize..6,
            stars in proptest::bool::ANY,
        ) {
            let leaf = if stars { "**/*.mp4" } else { "x" };
            let mut p = leaf.to_owned();
            for _ in 0..depth {
                p = format!("{{{}}}", vec![p.as_str(); width].join(","));
                if p.len() > 2 * MAX_PATTERN_BYTES {
                    break;
                }
            }
            let _ = GlobPattern::parse(&p, false);
        }

        /// Arbitrary text never panics.
        #[test]
        fn compiling_arbitrary_text_never_panics(s in "\\PC{0,300}") {
            let _ = GlobPattern::parse(&s, false);
        }
    }

    #[test]
    fn the_default_pattern_matches_everything() {
        assert!(GlobPattern::default().matches("any/thing.bin"));
    }
}
