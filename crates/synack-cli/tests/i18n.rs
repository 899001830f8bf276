//! Every English string has a Chinese one, and the Chinese reads as one voice: 客户端/服务器
//! rather than "client"/"server", no stray spaces inside Chinese text or after "（", 四元组
//! rather than 端口对. Checked at the source (every `pick(en, zh)` with literals, every
//! `Lang::En` arm beside a `Lang::Zh` one) and on what each scenario actually says.

use std::path::{Path, PathBuf};

use synack_cli::i18n::{self, Lang};
use synack_cli::scenario::{self, Params, SCENARIOS};
use synack_proto::{StateName, TRANSITIONS};

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x303F | 0x4E00..=0x9FFF | 0xFF00..=0xFFEF)
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(is_cjk)
}

/// What a native reader would stumble on in a Chinese string.
fn zh_problems(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    for w in chars.windows(3) {
        if is_cjk(w[0]) && w[1] == ' ' && is_cjk(w[2]) {
            out.push(format!(
                "a space between Chinese characters: `{}`",
                w.iter().collect::<String>()
            ));
        }
    }
    if s.contains("（ ") || s.contains(" ）") || s.contains("（\n") {
        out.push("a space or line break inside （）".into());
    }
    if s.contains("  ") {
        out.push("a double space".into());
    }
    for (word, better) in [
        ("端口对", "四元组"),
        ("client", "客户端"),
        ("server", "服务器"),
        (" app ", "应用"),
    ] {
        if s.contains(word) {
            out.push(format!("`{word}` where the text says {better}"));
        }
    }
    out
}

fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut out,
    );
    out.sort();
    out
}

/// A Rust string literal starting at `s[0] == '"'`, with `\` line continuations folded as the
/// compiler folds them; and the rest after it.
fn literal(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                '\n' => {
                    while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
                        chars.next();
                    }
                }
                'n' => out.push('\n'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// Every `pick("…", "…")` in the sources with two literal arguments.
fn picks() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for path in sources() {
        let src = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let mut rest = src.as_str();
        while let Some(at) = rest.find("pick(") {
            rest = &rest[at + 5..];
            let Some((en, after)) = literal(rest.trim_start()) else {
                continue;
            };
            let after = after.trim_start();
            let Some(after) = after.strip_prefix(',') else {
                continue;
            };
            let Some((zh, _)) = literal(after.trim_start()) else {
                continue;
            };
            out.push((name.clone(), en, zh));
        }
    }
    out
}

#[test]
fn every_english_literal_has_a_chinese_one() {
    let picks = picks();
    assert!(
        picks.len() > 40,
        "the scan found only {} pick() calls",
        picks.len()
    );
    for (file, en, zh) in &picks {
        assert!(
            !zh.trim().is_empty(),
            "{file}: `{en}` has an empty Chinese side"
        );
        // Both sides the same is fine only for what is not words: punctuation, units, names.
        if en != zh {
            assert!(has_cjk(zh), "{file}: `{en}` → `{zh}` is not Chinese");
        } else {
            assert!(
                !en.chars()
                    .any(|c| c.is_ascii_lowercase() && en.contains(' '))
                    || en.starts_with("SYN"),
                "{file}: `{en}` is left in English"
            );
        }
        let problems = zh_problems(zh);
        assert!(problems.is_empty(), "{file}: `{zh}`: {problems:?}");
    }
}

#[test]
fn every_english_arm_has_a_chinese_arm() {
    for path in sources() {
        let src = std::fs::read_to_string(&path).unwrap();
        for (en, zh) in [
            ("Lang::En =>", "Lang::Zh =>"),
            ("(Lang::En, ", "(Lang::Zh, "),
            ("Lang::En)", "Lang::Zh)"),
        ] {
            let (e, z) = (src.matches(en).count(), src.matches(zh).count());
            assert_eq!(e, z, "{}: {e} `{en}` against {z} `{zh}`", path.display());
        }
    }
}

#[test]
fn states_causes_and_scenarios_are_said_in_both_languages() {
    for s in StateName::ALL {
        let zh = i18n::describe(s, Lang::Zh);
        assert!(has_cjk(zh), "{s}: {zh}");
        assert!(
            zh_problems(zh).is_empty(),
            "{s}: {zh}: {:?}",
            zh_problems(zh)
        );
        assert_ne!(i18n::describe(s, Lang::En), zh);
    }
    for t in TRANSITIONS {
        let zh = i18n::cause(t.cause, Lang::Zh);
        // The user calls keep the names a programmer types (connect, listen, close, abort).
        let call = ["connect", "listen", "close", "abort"].contains(&zh);
        assert!(has_cjk(zh) || call, "{:?}: {zh}", t.cause);
    }
    for s in scenario::listed() {
        for zh in [s.zh, s.story_zh] {
            assert!(has_cjk(zh), "{}", s.name);
            let p = zh_problems(zh);
            assert!(p.is_empty(), "{}: {p:?}\n{zh}", s.name);
        }
        assert!(!s.en.is_empty() && !s.story_en.is_empty());
    }
}

#[test]
fn every_note_of_every_run_has_a_chinese_side_in_one_voice() {
    let variants = [
        Params::default(),
        Params {
            seed: 3,
            loss: 0.2,
            ..Params::default()
        },
        Params {
            seed: 2,
            corrupt: 0.1,
            ..Params::default()
        },
    ];
    for s in SCENARIOS {
        for p in &variants {
            let r = scenario::run(s.name, p).unwrap();
            for n in &r.notes {
                assert!(has_cjk(&n.zh), "{}: `{}` has no Chinese", s.name, n.en);
                let problems = zh_problems(&n.zh);
                assert!(problems.is_empty(), "{}: `{}`: {problems:?}", s.name, n.zh);
            }
            let facts = scenario::narrate::facts(&r, Lang::Zh);
            assert!(zh_problems(&facts).is_empty(), "{}: {facts}", s.name);
            // Nothing of the English narration leaks into the Chinese report.
            let report = synack_cli::ladder::report(&r, &synack_cli::ladder::View::plain(Lang::Zh));
            for word in [" the ", " is ", " and ", " its ", "application"] {
                assert!(!report.contains(word), "{}: `{word}` in:\n{report}", s.name);
            }
        }
    }
}

/// The README's table of state names is the one `synack states` prints.
#[test]
fn the_readme_names_table_matches_the_code() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    for n in &i18n::STATE_NAMES {
        let row = format!(
            "| {} | {} | {} | {} |",
            n.state.as_str(),
            n.netstat,
            n.ss,
            n.bsd
        );
        assert!(readme.contains(&row), "README lacks `{row}`");
    }
}
