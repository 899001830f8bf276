//! The parser answers any input with a script or a positioned error, never a panic.

use proptest::prelude::*;
use synack_script::parse;

/// Fragments of the language, so random input often gets deep into the grammar.
const PIECES: &[&str] = &[
    "0",
    "+0.1",
    "*",
    "~",
    "...",
    " ",
    "\n",
    "<",
    ">",
    "S",
    ".",
    "F",
    "R",
    "P",
    "0:0(0)",
    "1:1001(1000)",
    "ack",
    "win",
    "<mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>",
    "<...>",
    "socket(",
    "..., ",
    "SOCK_STREAM",
    ")",
    "= ",
    "-1",
    "ECONNREFUSED",
    "(Connection refused)",
    "%{",
    "}%",
    "`",
    "[",
    "]",
    "{",
    "}",
    "=",
    "|",
    ",",
    "\"",
    "/*",
    "*/",
    "//",
    "--",
    "0x",
    "4294967296",
    "99999999999999999999",
    "sack 1:2",
    "TS",
    "val",
    "ecr",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = parse(&s);
    }

    #[test]
    fn arbitrary_fragments_never_panic(parts in prop::collection::vec(0..PIECES.len(), 0..40)) {
        let s: String = parts.iter().map(|&i| PIECES[i]).collect();
        if let Err(e) = parse(&s) {
            // The position points into the input.
            let lines = s.split('\n').count();
            prop_assert!(e.pos.line >= 1 && e.pos.line <= lines, "{e} for {s:?}");
            prop_assert!(!e.msg.is_empty());
        }
    }
}
