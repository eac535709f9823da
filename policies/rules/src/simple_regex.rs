//! A matcher for the simplest data regexes, without `regex-lite`.
//!
//! Most regexes in ban lists are a chain of characters and classes with `?`, `*` or `+`,
//! perhaps anchored: `^mod[0-9]+$`, `(?i)^staff`, `^curl/7\.`. `regex-lite` compiles each one
//! in a few microseconds and allocates fresh search state for every match (see
//! [`crate::re2`]), and `policy.wasm` pays both on every request. Such a chain is matched here
//! instead, by carrying the set of reachable positions in a `u64` along the subject.
//!
//! The input is the pattern *after* [`crate::re2`]'s translation, so RE2's meaning (case
//! folding, escapes, Perl classes) is already spelled out as plain characters and ranges, and
//! the syntax to read is the small part of regex-lite's that the translation writes. Anything
//! else (groups, alternation, counted repetition, assertions, flags) is left to `regex-lite`.
//! A property test checks both agree on generated patterns and subjects.

/// One position of the chain.
#[derive(Debug, Clone)]
struct Atom {
    set: CharSet,
    /// `?` or `*`: may be skipped.
    optional: bool,
    /// `*` or `+`: may match again.
    repeats: bool,
}

/// What one position matches.
#[derive(Debug, Clone)]
enum CharSet {
    /// `.`: anything but a newline.
    AnyButNewline,
    One(char),
    /// A bracket class: inclusive ranges, perhaps negated.
    Ranges {
        negated: bool,
        ranges: Box<[(char, char)]>,
    },
}

impl CharSet {
    fn contains(&self, c: char) -> bool {
        match self {
            CharSet::AnyButNewline => c != '\n',
            CharSet::One(one) => *one == c,
            CharSet::Ranges { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// The most positions a chain may have: they and the final state fit in a `u64`.
const MAX_ATOMS: usize = 63;

/// A chain of characters and classes with `?`, `*` and `+`, optionally anchored.
#[derive(Debug, Clone)]
pub struct Chain {
    atoms: Box<[Atom]>,
    at_start: bool,
    at_end: bool,
}

/// Reads translated pattern text one character at a time.
struct Reader<'p> {
    chars: std::str::Chars<'p>,
}

impl Reader<'_> {
    fn next(&mut self) -> Option<char> {
        self.chars.next()
    }

    fn peek(&self) -> Option<char> {
        self.chars.clone().next()
    }

    /// The character an escape stands for (after the `\`), when it stands for one.
    fn escaped(&mut self) -> Option<char> {
        match self.next()? {
            'x' => {
                if self.next()? != '{' {
                    return None;
                }
                let mut value = 0_u32;
                loop {
                    match self.next()? {
                        '}' => break,
                        d => value = value.checked_mul(16)?.checked_add(d.to_digit(16)?)?,
                    }
                }
                char::from_u32(value)
            }
            'a' => Some('\u{7}'),
            'f' => Some('\u{c}'),
            't' => Some('\t'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            'v' => Some('\u{b}'),
            c if c.is_ascii_punctuation() => Some(c),
            _ => None,
        }
    }

    /// One member of a bracket class (after any `^`).
    fn class_char(&mut self) -> Option<char> {
        match self.next()? {
            '\\' => self.escaped(),
            // `[:name:]` classes and anything nested are left to regex-lite.
            '[' | ']' | '-' | '&' | '~' => None,
            c => Some(c),
        }
    }

    /// A bracket class, after its `[`.
    fn class(&mut self) -> Option<CharSet> {
        let negated = self.peek() == Some('^');
        if negated {
            self.next();
        }
        let mut ranges = Vec::new();
        loop {
            if self.peek() == Some(']') {
                self.next();
                break;
            }
            let lo = self.class_char()?;
            let hi = if self.peek() == Some('-') {
                self.next();
                self.class_char()?
            } else {
                lo
            };
            if hi < lo {
                return None;
            }
            ranges.push((lo, hi));
        }
        // regex-lite refuses an empty class.
        (!ranges.is_empty()).then(|| CharSet::Ranges {
            negated,
            ranges: ranges.into(),
        })
    }
}

impl Chain {
    /// Reads translated regex text; `None` when it is not a simple chain.
    pub fn parse(translated: &str) -> Option<Chain> {
        let mut reader = Reader {
            chars: translated.chars(),
        };
        let at_start = reader.peek() == Some('^');
        if at_start {
            reader.next();
        }
        let mut atoms: Vec<Atom> = Vec::new();
        let mut at_end = false;
        while let Some(c) = reader.next() {
            if at_end {
                return None;
            }
            let set = match c {
                '.' => CharSet::AnyButNewline,
                '\\' => CharSet::One(reader.escaped()?),
                '[' => reader.class()?,
                '$' => {
                    at_end = true;
                    continue;
                }
                '*' | '+' | '?' => {
                    let atom = atoms.last_mut()?;
                    if atom.optional || atom.repeats {
                        return None;
                    }
                    atom.optional = c != '+';
                    atom.repeats = c != '?';
                    // A lazy repetition matches the same texts.
                    if reader.peek() == Some('?') {
                        reader.next();
                    }
                    continue;
                }
                '(' | ')' | '|' | '{' | '}' | ']' | '^' => return None,
                c => CharSet::One(c),
            };
            atoms.push(Atom {
                set,
                optional: false,
                repeats: false,
            });
        }
        (atoms.len() <= MAX_ATOMS).then(|| Chain {
            atoms: atoms.into(),
            at_start,
            at_end,
        })
    }

    /// The states reachable from `set` without reading: past every skippable position.
    fn close(&self, mut set: u64) -> u64 {
        for (i, atom) in self.atoms.iter().enumerate() {
            if atom.optional && set & (1 << i) != 0 {
                set |= 1 << (i + 1);
            }
        }
        set
    }

    /// Whether the chain matches anywhere in `s`.
    pub fn is_match(&self, s: &str) -> bool {
        let accept = 1_u64 << self.atoms.len();
        let start = self.close(1);
        let mut now = start;
        for c in s.chars() {
            if now & accept != 0 && !self.at_end {
                return true;
            }
            let mut next = 0_u64;
            let mut active = now & (accept - 1);
            while active != 0 {
                let i = active.trailing_zeros() as usize;
                active &= active - 1;
                let atom = &self.atoms[i];
                if atom.set.contains(c) {
                    next |= 1 << (i + 1);
                    if atom.repeats {
                        next |= 1 << i;
                    }
                }
            }
            now = self.close(next);
            if !self.at_start {
                now |= start;
            } else if now == 0 {
                return false;
            }
        }
        now & accept != 0
    }
}

#[cfg(test)]
mod tests {
    use proptest::{prelude::*, strategy::ValueTree};

    use crate::re2::Re2;

    #[test]
    fn reads_the_workloads_patterns() {
        for (pattern, yes, no) in [
            ("^mod[0-9]+$", "mod42", "mod4x"),
            ("(?i)^staff", "StaFFer", "xstaff"),
            ("^curl/7\\.", "curl/7.1", "curl/701"),
            ("a.c", "xabc", "a\nc"),
            ("", "", "never used"),
        ] {
            let re = Re2::new(pattern).unwrap_or_else(|e| unreachable!("{pattern}: {e}"));
            assert!(re.is_simple(), "{pattern}");
            assert!(re.is_match(yes), "{pattern} on {yes}");
            if pattern.is_empty() {
                continue;
            }
            assert!(!re.is_match(no), "{pattern} on {no}");
        }
        for pattern in ["a|b", "(ab)+", "a{2}", "\\bx", "(?s).", "[[:alpha:]]"] {
            let re = Re2::new(pattern).unwrap_or_else(|e| unreachable!("{pattern}: {e}"));
            assert!(!re.is_simple(), "{pattern}");
        }
    }

    /// Patterns from a small RE2 alphabet: flags, anchors, classes, Perl classes, escapes.
    const PATTERNS: &str = "(\\(\\?i\\))?\\^?([ab.\\n]|\\[\\^?[a-cé]-?[a-z]?\\]|\\\\[.dwsDWS]|[Éé])([*+?]\\??)?([ab.]|\\\\d)?[*+?]?(a|\\$)?";

    /// The property below is only worth something if most generated patterns are chains.
    #[test]
    fn most_generated_patterns_are_chains() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy =
            proptest::string::string_regex(PATTERNS).unwrap_or_else(|e| unreachable!("{e}"));
        let (mut valid, mut chains) = (0, 0);
        for _ in 0..2000 {
            let pattern = strategy
                .new_tree(&mut runner)
                .unwrap_or_else(|e| unreachable!("{e}"))
                .current();
            if let Ok(re) = Re2::new(&pattern) {
                valid += 1;
                chains += usize::from(re.is_simple());
            }
        }
        assert!(
            chains * 10 > valid * 7,
            "{chains} chains of {valid} valid patterns"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// On every chain it reads, this matcher agrees with regex-lite.
        #[test]
        fn agrees_with_regex_lite(
            pattern in PATTERNS,
            subject in "[abcAé\\n.0-9 ]{0,8}",
        ) {
            let Ok(re) = Re2::new(&pattern) else { return Ok(()) };
            let lite = Re2::through_regex_lite(&pattern)
                .map_err(|e| TestCaseError::fail(format!("{pattern}: {e}")))?;
            prop_assert_eq!(re.is_match(&subject), lite.is_match(&subject), "{:?} on {:?}", pattern, subject);
        }
    }
}
