//! Terminal text: display widths (CJK takes two columns), fitting, wrapping and colour.

/// What a span of text is, which decides its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    Dim,
    Bold,
    Title,
    /// Segments sent by the client (side A).
    Client,
    /// Segments sent by the server (side B).
    Server,
    Lost,
    Retransmit,
    State,
    Note,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Plain => "",
            Style::Dim => "2",
            Style::Bold => "1",
            Style::Title => "1;4",
            Style::Client => "36",
            Style::Server => "33",
            Style::Lost => "1;31",
            Style::Retransmit => "35",
            Style::State => "1;32",
            Style::Note => "3;34",
        }
    }

    /// `text` wrapped in the style's escape codes when `color` is on.
    pub fn paint(self, text: &str, color: bool) -> String {
        if !color || self == Style::Plain || text.is_empty() {
            return text.to_string();
        }
        format!("\x1b[{}m{text}\x1b[0m", self.code())
    }
}

/// Whether a character takes two terminal columns (East Asian wide and fullwidth forms).
fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6)
}

/// Columns `s` takes in a terminal.
pub fn width(s: &str) -> usize {
    s.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

/// `s` cut to at most `max` columns, with an ellipsis when cut.
pub fn fit(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = if is_wide(c) { 2 } else { 1 };
        if w + cw + 1 > max {
            break;
        }
        out.push(c);
        w += cw;
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// `s` padded with spaces to `w` columns.
pub fn pad_to(s: &str, w: usize) -> String {
    let n = w.saturating_sub(width(s));
    format!("{s}{}", " ".repeat(n))
}

/// `s` right-aligned in `w` columns.
pub fn pad_left(s: &str, w: usize) -> String {
    let n = w.saturating_sub(width(s));
    format!("{}{s}", " ".repeat(n))
}

/// Greedy wrapping at `w` columns. Breaks at spaces, and between any two CJK characters,
/// which Chinese text allows; a CJK punctuation mark never starts a line.
pub fn wrap(text: &str, w: usize) -> Vec<String> {
    // Tokens: a run of non-space, non-wide characters, or a single wide character; spaces
    // are separators that survive only inside a line.
    let mut tokens: Vec<(String, bool)> = Vec::new(); // (token, preceded by space)
    let mut cur = String::new();
    let mut space_before = false;
    for c in text.chars() {
        if c == ' ' || c == '\n' {
            if !cur.is_empty() {
                tokens.push((std::mem::take(&mut cur), space_before));
            }
            space_before = true;
        } else if is_wide(c) {
            if !cur.is_empty() {
                tokens.push((std::mem::take(&mut cur), space_before));
                space_before = false;
            }
            let punct = matches!(
                c,
                '，' | '。' | '、' | '；' | '：' | '）' | '」' | '！' | '？'
            );
            match tokens.last_mut() {
                Some((t, _)) if punct && !space_before => t.push(c),
                _ => tokens.push((c.to_string(), space_before)),
            }
            space_before = false;
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        tokens.push((cur, space_before));
    }
    let mut lines = Vec::new();
    let mut line = String::new();
    for (t, sp) in tokens {
        let sep = if sp && !line.is_empty() { " " } else { "" };
        if !line.is_empty() && width(&line) + width(sep) + width(&t) > w {
            lines.push(std::mem::take(&mut line));
            line.push_str(&t);
        } else {
            line.push_str(sep);
            line.push_str(&t);
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A virtual time in milliseconds with three decimals (`12.345`), as every picture prints it.
pub fn ms(t: synack_proto::Instant) -> String {
    let us = t.as_micros();
    format!("{}.{:03}", us / 1000, us % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_fit_and_wrap() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("三次握手"), 8);
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        let lines = wrap("one two three four", 9);
        assert_eq!(lines, ["one two", "three", "four"]);
        let zh = wrap("三次握手，四次挥手", 8);
        assert!(zh.iter().all(|l| width(l) <= 8), "{zh:?}");
        assert_eq!(zh.concat(), "三次握手，四次挥手");
        assert!(zh.iter().all(|l| !l.starts_with('，')));
    }
}
