//! Keeping credentials out of everything vmcp prints: errors, logs, reports, messages, traces.
//!
//! One pass, [`redact`], used everywhere text may carry a URL or an echoed credential (config
//! errors included), so there is one rule to reason about:
//!
//! * a URL keeps its scheme, host, port and path; its **userinfo** (`user:pass@`) and its
//!   **fragment** (`#…`) are dropped;
//! * a query keeps its keys and replaces **every** value with [`REDACTED`], whatever the key is
//!   called (`?api_key=…`, `?X-Amz-Signature=…`, `?code=…`, `?api%5Fkey=…`), in URLs and in any
//!   other token with a query (`h:1/mcp?k=v`); `&` and `;` both separate parameters;
//! * `Bearer`/`Basic` tokens and `Authorization`-style header values are replaced too.
//!
//! Redaction is idempotent: redacting redacted text changes nothing (a value that already is
//! [`REDACTED`] is left alone), so layers may redact defensively. Below both `error` and
//! `status` in the module graph; neither re-exports the other.

/// The placeholder that replaces removed credentials.
pub const REDACTED: &str = "<redacted>";

/// Remove credentials from free text: every URL and query in it as described in the module
/// docs, and `Bearer`/`Basic` tokens and `Authorization`/`X-Api-Key`-style header values.
pub fn redact(msg: &str) -> String {
    redact_after_keywords(&redact_queries_and_urls(msg))
}

/// `url` safe to publish: scheme, host, port and path kept; userinfo and fragment dropped;
/// every query value replaced by [`REDACTED`].
///
/// The whole of `url` is one URL, even if it holds characters no valid URL has (a space, a
/// quote): a malformed URL in a config error must not leak the part after the bad character.
pub fn redact_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    redact_token(url, &mut out);
    out
}

/// Replace every verbatim occurrence of the given secret values (empty ones are ignored).
pub fn scrub(msg: &str, secrets: &[&str]) -> String {
    let mut out = msg.to_owned();
    for secret in secrets {
        if !secret.is_empty() && out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

/// Characters that end a URL-ish token in free text: whitespace and the characters a URL can
/// never hold unencoded (RFC 3986), so a valid query value is never cut short. `<` and `>` are
/// among them, so a value that already is [`REDACTED`] is its own token and redacting again
/// changes nothing. (`'` is legal in a query, so it does not end a token: a quoted URL's closing
/// quote is then redacted along with the last value, which costs a quote, never a secret.)
fn ends_token(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '`' | '<' | '>' | '{' | '}' | '|' | '\\' | '^')
}

/// Apply the URL rules to every token of `msg`; the separators are copied unchanged.
fn redact_queries_and_urls(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while !rest.is_empty() {
        let token_len = rest.find(ends_token).unwrap_or(rest.len());
        if token_len == 0 {
            let sep = rest.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[..sep]);
            rest = &rest[sep..];
            continue;
        }
        redact_token(&rest[..token_len], &mut out);
        rest = &rest[token_len..];
    }
    out
}

/// One token: userinfo dropped from a `scheme://` authority, query values replaced, and the
/// fragment of a URL (or of anything with a query) dropped.
fn redact_token(token: &str, out: &mut String) {
    let mut rest = token;
    let is_url = match token.find("://") {
        Some(pos) => {
            let authority_start = pos + 3;
            out.push_str(&token[..authority_start]);
            let after = &token[authority_start..];
            let authority_len = after.find(['/', '?', '#']).unwrap_or(after.len());
            let authority = &after[..authority_len];
            // `rfind`: a password may itself hold an unencoded `@`.
            let host = authority
                .rfind('@')
                .map_or(authority, |at| &authority[at + 1..]);
            out.push_str(host);
            rest = &after[authority_len..];
            true
        }
        None => false,
    };
    let (before_query, query) = match rest.find('?') {
        Some(q) => (&rest[..q], Some(&rest[q + 1..])),
        None => (rest, None),
    };
    match query {
        None => {
            // A URL's fragment goes; a `#` in other text (`issue #5`) stays.
            let path = if is_url {
                before_query.split('#').next().unwrap_or("")
            } else {
                before_query
            };
            out.push_str(path);
        }
        Some(query) => {
            let path = before_query.split('#').next().unwrap_or("");
            out.push_str(path);
            out.push('?');
            let query = query.split('#').next().unwrap_or("");
            redact_query(query, out);
        }
    }
}

/// `k=v` pairs separated by `&` or `;`: keys kept, every non-empty value replaced.
fn redact_query(query: &str, out: &mut String) {
    let mut rest = query;
    loop {
        let end = rest.find(['&', ';']).unwrap_or(rest.len());
        let pair = &rest[..end];
        match pair.split_once('=') {
            Some((key, value)) => {
                out.push_str(key);
                out.push('=');
                if !value.is_empty() {
                    out.push_str(REDACTED);
                }
            }
            None => out.push_str(pair),
        }
        if end == rest.len() {
            return;
        }
        out.push_str(&rest[end..end + 1]);
        rest = &rest[end + 1..];
    }
}

/// Keywords after which the next token is a credential: `bearer <token>`, `basic <token>`, and
/// header names followed by `:` or `=` (a quoted value up to its closing quote, a bare value up to
/// the end of the line).
fn redact_after_keywords(msg: &str) -> String {
    const TOKEN_SCHEMES: &[&str] = &["bearer", "basic"];
    const HEADER_NAMES: &[&str] = &[
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "cookie",
    ];
    let lower = msg.to_ascii_lowercase();
    let bytes = msg.as_bytes();
    let mut out = String::with_capacity(msg.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let at_word_start = i == 0 || !is_word_byte(bytes[i - 1]);
        let mut handled = false;
        if at_word_start {
            for scheme in TOKEN_SCHEMES {
                if lower[i..].starts_with(scheme) {
                    let after = i + scheme.len();
                    let ws = count_while(&bytes[after..], |b| b == b' ' || b == b'\t');
                    if ws > 0 {
                        let tok_start = after + ws;
                        let tok_len = count_while(&bytes[tok_start..], is_token_byte);
                        if tok_len > 0 {
                            out.push_str(&msg[copied..tok_start]);
                            out.push_str(REDACTED);
                            i = tok_start + tok_len;
                            copied = i;
                            handled = true;
                            break;
                        }
                    }
                }
            }
            if !handled {
                for name in HEADER_NAMES {
                    if lower[i..].starts_with(name) {
                        let mut j = i + name.len();
                        // Allow a closing quote after a quoted header name: `"authorization": "…"`.
                        if bytes.get(j) == Some(&b'"') {
                            j += 1;
                        }
                        if !matches!(bytes.get(j), Some(b':') | Some(b'=')) {
                            continue;
                        }
                        j += 1;
                        j += count_while(&bytes[j..], |b| b == b' ' || b == b'\t');
                        // A quoted value ends at its closing quote; a bare one at the line end.
                        let quoted = bytes.get(j) == Some(&b'"');
                        if quoted {
                            j += 1;
                        }
                        let val_len = count_while(&bytes[j..], |b| {
                            if quoted {
                                b != b'"'
                            } else {
                                !matches!(b, b'\n' | b'\r')
                            }
                        });
                        if val_len > 0 {
                            out.push_str(&msg[copied..j]);
                            out.push_str(REDACTED);
                            i = j + val_len;
                            copied = i;
                            handled = true;
                        }
                        break;
                    }
                }
            }
        }
        if !handled {
            i += 1;
            // Stay on UTF-8 boundaries.
            while i < bytes.len() && !msg.is_char_boundary(i) {
                i += 1;
            }
        }
    }
    out.push_str(&msg[copied..]);
    out
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn is_token_byte(b: u8) -> bool {
    // RFC 6750 b64token plus a little slack; stops at whitespace, quotes and separators. Bytes of
    // non-ASCII characters belong to the token too: a token is never ASCII-only by contract, and
    // stopping at `ø` in `tøken` would print the rest of it. (A run of such bytes always ends on
    // a character boundary, since every byte of a multi-byte UTF-8 character is >= 0x80.)
    !b.is_ascii()
        || b.is_ascii_alphanumeric()
        || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b':')
}

fn count_while(bytes: &[u8], pred: impl Fn(u8) -> bool) -> usize {
    bytes.iter().take_while(|b| pred(**b)).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_url_keeps_scheme_host_port_and_path_and_loses_userinfo_fragment_and_values() {
        for (input, want) in [
            ("http://github-mcp:8080/mcp", "http://github-mcp:8080/mcp"),
            ("https://user:p%40ss@host:8443/mcp", "https://host:8443/mcp"),
            ("http://u:p@ss@host/mcp", "http://host/mcp"),
            ("http://tok3n@host", "http://host"),
            (
                "http://host:8080/mcp?api_key=SUPERSECRET&x=1",
                "http://host:8080/mcp?api_key=<redacted>&x=<redacted>",
            ),
            (
                "https://h:1/mcp?api_key=LEAK1",
                "https://h:1/mcp?api_key=<redacted>",
            ),
            ("https://h/mcp#access_token=LEAK", "https://h/mcp"),
            ("https://h/mcp?a=1#frag", "https://h/mcp?a=<redacted>"),
            (
                "http://h/?apikey;token=LEAK",
                "http://h/?apikey;token=<redacted>",
            ),
            (
                "http://h/?api%5Fkey=LEAK&flag",
                "http://h/?api%5Fkey=<redacted>&flag",
            ),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_url(input), want, "{input}");
        }
    }

    #[test]
    fn free_text_is_redacted_token_by_token() {
        assert_eq!(
            redact("url h:1/mcp?private_token=LEAK2 is bad; issue #5 stays"),
            "url h:1/mcp?private_token=<redacted> is bad; issue #5 stays"
        );
        assert_eq!(
            redact("\"ftp://u:pw@h:99999/x?X-Amz-Signature=S&code=C\" (fragment #f)"),
            "\"ftp://h:99999/x?X-Amz-Signature=<redacted>&code=<redacted>\" (fragment #f)"
        );
        assert_eq!(
            redact("Authorization: Bearer abc.def"),
            "Authorization: <redacted>"
        );
    }

    /// A `Bearer`/`Basic` token anywhere in free text goes, and only the token: the scheme word,
    /// the whitespace after it and the rest of the text stay.
    #[test]
    fn bearer_and_basic_tokens_are_replaced_in_free_text() {
        for (input, want) in [
            (
                "rejected Bearer abc.def-123 by the backend",
                "rejected Bearer <redacted> by the backend",
            ),
            (
                "basic\tdXNlcjpwYXNz, retrying",
                "basic\t<redacted>, retrying",
            ),
            ("BEARER  tok/en=+~:x", "BEARER  <redacted>"),
            // Not a scheme word: inside another word, or without a token after it.
            ("unbearer abc", "unbearer abc"),
            ("a bearer", "a bearer"),
            ("bearer \"quoted\"", "bearer \"quoted\""),
            // Text that is not ASCII is walked character by character, never split.
            (
                "échec: Bearer ok1 — größe ü, basic dXNlcg==",
                "échec: Bearer <redacted> — größe ü, basic <redacted>",
            ),
            // A token with non-ASCII characters goes whole, not up to its first one.
            ("Bearer tøken-ü9 rejected", "Bearer <redacted> rejected"),
            ("basic ñ", "basic <redacted>"),
        ] {
            assert_eq!(redact(input), want, "{input:?}");
        }
    }

    /// A header-style value goes up to its closing quote when quoted (JSON), to the line end
    /// when bare; the header name, the separator and what follows stay.
    #[test]
    fn header_values_are_replaced_quoted_or_bare() {
        for (input, want) in [
            (
                "{\"authorization\": \"Bearer abc def\", \"x\": 1}",
                "{\"authorization\": \"<redacted>\", \"x\": 1}",
            ),
            (
                "X-Api-Key=abc123 more\r\nnext line",
                "X-Api-Key=<redacted>\r\nnext line",
            ),
            ("cookie:\tsid=1; theme=dark\nok", "cookie:\t<redacted>\nok"),
            // A header name without `:`/`=` after it, or inside a longer word, is plain text.
            ("no authorization here", "no authorization here"),
            ("my-cookie: keep", "my-cookie: keep"),
        ] {
            assert_eq!(redact(input), want, "{input:?}");
        }
    }

    #[test]
    fn redacting_twice_changes_nothing() {
        for text in [
            "https://h:1/mcp?api_key=LEAK1",
            "http://host:8080/mcp?api_key=<redacted>&x=1",
            "api_key=<redacted> and ?session=<redacted>>",
        ] {
            let once = redact(text);
            assert_eq!(redact(&once), once, "{text}");
        }
    }

    fn url() -> impl Strategy<Value = (String, Vec<String>)> {
        let word = "[a-zA-Z0-9%._~-]{1,12}";
        (
            prop_oneof![Just("http"), Just("https"), Just("ftp")],
            prop::option::of((word, prop::option::of(word))),
            "[a-z0-9.-]{1,12}",
            prop::option::of(0_u32..100_000),
            "(/[a-zA-Z0-9._~-]{0,8}){0,3}",
            prop::collection::vec((word, "[a-zA-Z0-9%._~!$'()*+,:@/?-]{1,16}"), 0..5),
            prop::option::of("[a-zA-Z0-9=&._-]{1,12}"),
            prop_oneof![Just('&'), Just(';')],
        )
            .prop_map(
                |(scheme, userinfo, host, port, path, query, fragment, sep)| {
                    let mut url = format!("{scheme}://");
                    if let Some((user, pass)) = userinfo {
                        url.push_str(&user);
                        if let Some(pass) = pass {
                            url.push(':');
                            url.push_str(&pass);
                        }
                        url.push('@');
                    }
                    url.push_str(&host);
                    if let Some(port) = port {
                        url.push_str(&format!(":{port}"));
                    }
                    url.push_str(&path);
                    let mut secrets = Vec::new();
                    for (i, (key, value)) in query.iter().enumerate() {
                        url.push(if i == 0 { '?' } else { sep });
                        url.push_str(key);
                        url.push('=');
                        // Marked so the check cannot confuse a value with a key or the host.
                        let secret = format!("SECRET{i}{value}");
                        url.push_str(&secret);
                        secrets.push(secret);
                    }
                    if let Some(fragment) = fragment {
                        url.push_str("#FRAGSECRET");
                        url.push_str(&fragment);
                        secrets.push(format!("FRAGSECRET{fragment}"));
                    }
                    (url, secrets)
                },
            )
    }

    proptest! {
        #[test]
        fn redaction_never_leaks_a_query_value_and_is_idempotent(
            (url, secrets) in url(),
            prefix in "[a-z ]{0,10}",
        ) {
            let text = format!("{prefix}{url} trailing");
            for redacted in [redact_url(&url), redact(&text)] {
                for secret in &secrets {
                    prop_assert!(!redacted.contains(secret.as_str()), "{secret} in {redacted}");
                }
                prop_assert_eq!(redact(&redacted), redacted.clone());
            }
        }
    }

    /// An empty header value has nothing to hide: it is printed as it is, not marked redacted.
    #[test]
    fn empty_header_values_are_left_alone() {
        for msg in [
            "authorization:\nnext line",
            "{\"authorization\": \"\"}",
            "x-api-key=",
            "cookie: \r\n",
        ] {
            assert_eq!(redact(msg), msg);
        }
    }

    /// A scheme name glued to a word is not a credential: only `Bearer <token>` (with a blank
    /// between) is redacted, never the tail of "bearerless" or "basically".
    #[test]
    fn scheme_names_inside_words_are_left_alone() {
        for msg in [
            "the bearerless path",
            "basically fine",
            "Basicauth disabled",
        ] {
            assert_eq!(redact(msg), msg);
        }
        assert_eq!(redact("Bearer abc.def"), "Bearer <redacted>");
    }

    /// An empty secret (an unset credential) is ignored, not "found" between every character.
    #[test]
    fn scrub_ignores_empty_secrets() {
        assert_eq!(scrub("token abc", &["", "abc"]), "token <redacted>");
        assert_eq!(scrub("plain", &[""]), "plain");
    }
}
