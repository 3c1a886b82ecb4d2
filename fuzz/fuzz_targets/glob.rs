//! Glob compilation and matching never panic, whatever the pattern and the path: the first
//! byte picks case sensitivity, the rest is split into a pattern and a path at the first NUL.
#![no_main]

use connectors::domain::glob::GlobPattern;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flag, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (pattern, path) = text.split_once('\0').unwrap_or((text, "incoming/a.mp4"));
    if let Ok(glob) = GlobPattern::parse(pattern, flag & 1 == 1) {
        let _ = glob.matches(path);
        let _ = GlobPattern::parse(glob.as_str(), glob.is_case_insensitive());
    }
});
