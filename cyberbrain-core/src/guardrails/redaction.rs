//! G6 — redacted mode for process logs and report artifacts.
//!
//! [`redact`] masks what must not leak from a diagnostic log or a report someone forwards:
//!
//! | what | example | becomes |
//! |---|---|---|
//! | PEM private keys (any label, multi-line, also truncated) | `-----BEGIN RSA PRIVATE KEY-----…` | `-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----` |
//! | `Authorization` / `Proxy-Authorization` / `Cookie` headers | `Authorization: Bearer abc` | `Authorization: Bearer [REDACTED]` |
//! | bare bearer tokens | `Bearer eyJhbGci…` | `Bearer [REDACTED]` |
//! | secret-named keys in `k=v`, `k: v`, JSON, YAML, env and CLI styles | `"apiKey":"abc"`, `--password x` | `"apiKey":"[REDACTED]"` |
//! | passwords in URLs | `postgres://app:pw@db/x` | `postgres://app:[REDACTED]@db/x` |
//! | well-known token shapes | `ghp_…`, `sk-…`, `xoxb-…`, `AKIA…`, JWTs | `[REDACTED]` |
//! | e-mail addresses | `alice@example.com` | `<email>` |
//! | IPv6 addresses (full, compressed, IPv4-mapped, with zone) | `fe80::1%eth0` | `<ipv6>` |
//! | IPv4 addresses (exactly four 0–255 octets) | `10.0.0.1:8080` | `<ip>:8080` |
//! | user names in home directories | `/home/alice/x`, `C:\Users\carol\x`, `~bob/x` | `/home/<user>/x` |
//!
//! Key names stay visible (`api_key=[REDACTED]`) so an operator can still read the log.
//!
//! Deliberate choices:
//! - Over-masking beats leaking: a value after a secret-named key is masked even when it looks
//!   harmless, and an unquoted value runs to the next space, quote, `,`, `;`, `&`, `}` or `]`.
//! - Words that merely contain a secret word are left alone when they are not a key (`tokenizer`,
//!   `max_tokens`, `passwordless login`, `secret_name`).
//! - Timestamps (`12:30:45`, `2026-11-24T05:34:19Z`), MAC addresses (`00:1a:2b:3c:4d:5e`), Rust and
//!   C++ paths (`std::net::IpAddr`), version numbers with fewer or more than four parts (`1.2.3`,
//!   `1.2.3.4.5`) and `::` alone are not addresses and stay. MAC addresses identify hardware, not
//!   people or networks reachable from outside, and G6 does not list them. A four-part version
//!   number whose parts are all 0–255 is indistinguishable from an IPv4 address and is masked.
//! - An IPv6 candidate must parse as an address and contain a decimal digit, which keeps words
//!   such as `dead::beef` and Haskell's `a :: b` intact.
//! - `/root` is not a personal user name and stays; `/home/`, `/Users/` and `C:\Users\` paths are
//!   masked only where a path starts (not inside URLs such as `https://host/home/page`).
//! - The result is stable: `redact(redact(x)) == redact(x)`.

use std::borrow::Cow;
use std::net::Ipv6Addr;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What a masked secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";
/// What a masked IPv4 address is replaced with.
pub const IPV4_MASK: &str = "<ip>";
/// What a masked IPv6 address is replaced with.
pub const IPV6_MASK: &str = "<ipv6>";
/// What a masked e-mail address is replaced with.
pub const EMAIL_MASK: &str = "<email>";
/// What a masked home-directory user name is replaced with.
pub const USER_MASK: &str = "<user>";

/// Masks secrets, addresses, e-mail addresses and home-directory user names in `text`.
///
/// Borrows `text` unchanged when nothing had to be masked.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut current = Cow::Borrowed(text);
    for pass in PASSES {
        // Each pass borrows the current text; only a pass that changed something allocates.
        let changed = match pass(&current) {
            Cow::Owned(changed) => Some(changed),
            Cow::Borrowed(_) => None,
        };
        if let Some(changed) = changed {
            current = Cow::Owned(changed);
        }
    }
    current
}

/// [`redact`] when redacted mode is on, `text` unchanged otherwise.
pub fn redact_if(enabled: bool, text: &str) -> Cow<'_, str> {
    if enabled {
        redact(text)
    } else {
        Cow::Borrowed(text)
    }
}

type Pass = fn(&str) -> Cow<'_, str>;

/// The passes, in order. Secrets go first so that an address or e-mail inside a secret value is
/// masked as part of the secret; IPv6 goes before IPv4 so that `::ffff:10.0.0.1` becomes one
/// `<ipv6>`.
const PASSES: &[Pass] = &[
    private_keys,
    authorization_headers,
    cookie_headers,
    bare_bearer_tokens,
    command_line_flags,
    key_values,
    webhook_urls,
    url_passwords,
    token_shapes,
    emails,
    ipv6_addresses,
    ipv4_addresses,
    unix_home_directories,
    windows_home_directories,
    tilde_home_directories,
];

fn regex(pattern: &str) -> Regex {
    // The patterns are constants checked by the tests; a typo is a programming error caught by
    // every test run, never a runtime condition.
    Regex::new(pattern).expect("redaction pattern compiles")
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// A complete PEM private-key block, or a truncated one (no END line: a log line cut short),
/// whose base64 body lines are masked.
static PRIVATE_KEY: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?s)(?P<begin>-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)(?:.*?(?P<end>-----END [A-Z0-9 ]*PRIVATE KEY-----)|(?P<body>(?:(?:\r?\n|\\n|[ \t])+(?:[A-Za-z0-9+/=]{16,}|Proc-Type:[^\r\n\\]*|DEK-Info:[^\r\n\\]*))+))",
    )
});

fn private_keys(text: &str) -> Cow<'_, str> {
    PRIVATE_KEY.replace_all(text, |caps: &Captures<'_>| {
        let begin = &caps["begin"];
        match (caps.name("end"), caps.name("body")) {
            (Some(end), _) => format!("{begin}{REDACTED}{}", end.as_str()),
            (None, Some(_)) => format!("{begin}{REDACTED}"),
            // A bare BEGIN line with nothing after it reveals nothing.
            (None, None) => begin.to_owned(),
        }
    })
}

/// The separator between a key and its value: `=`, `:`, `=>`, `:=`, with optional quotes around
/// the key (also JSON-escaped ones inside a logged JSON string).
const SEP: &str = r#"(?:\\?["'])?\s*(?:=>|:=|==|[:=])\s*"#;

/// Authorization schemes whose credentials are a comma-separated list with quoted parts.
const LIST_SCHEMES: &str = "digest|aws4-hmac-sha256";

/// `Authorization: Digest username="bob", response="…"` and AWS signatures: the credentials are a
/// list, masked up to the closing quote of a quoted header value or else to the end of the line.
static AUTHORIZATION_LIST: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        r#"(?i)\b(?P<key>(?:proxy-)?authorization)(?P<sep>{SEP})(?:"(?P<dq>{LIST_SCHEMES})\s+(?:[^"\\\r\n]|\\.)*"|'(?P<sq>{LIST_SCHEMES})\s+[^'\r\n]*'|\\"(?P<eq>{LIST_SCHEMES})\s+(?:[^\\\r\n]|\\[^"])*\\"|(?P<bare>{LIST_SCHEMES})\s+[^\r\n]*)"#
    ))
});

fn mask_authorization_list(caps: &Captures<'_>) -> String {
    let (quote, scheme) = if let Some(s) = caps.name("dq") {
        ("\"", s.as_str())
    } else if let Some(s) = caps.name("sq") {
        ("'", s.as_str())
    } else if let Some(s) = caps.name("eq") {
        ("\\\"", s.as_str())
    } else {
        ("", caps.name("bare").map_or("", |s| s.as_str()))
    };
    format!(
        "{}{}{quote}{scheme} {REDACTED}{quote}",
        &caps["key"], &caps["sep"]
    )
}

/// `Authorization: <scheme> <credentials>` and `Authorization: <credentials>`.
static AUTHORIZATION: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        r#"(?i)\b(?P<key>(?:proxy-)?authorization)(?P<sep>{SEP}(?:\\?["'])?)(?:(?P<scheme>bearer|basic|token|negotiate|ntlm|apikey|digest|aws4-hmac-sha256)\s+)?(?P<value>[^\s"',;\\]+)"#
    ))
});

fn authorization_headers(text: &str) -> Cow<'_, str> {
    let header = |caps: &Captures<'_>| {
        let scheme = caps
            .name("scheme")
            .map(|s| format!("{} ", s.as_str()))
            .unwrap_or_default();
        format!("{}{}{scheme}{REDACTED}", &caps["key"], &caps["sep"])
    };
    match AUTHORIZATION_LIST.replace_all(text, mask_authorization_list) {
        Cow::Borrowed(_) => AUTHORIZATION.replace_all(text, header),
        Cow::Owned(changed) => Cow::Owned(AUTHORIZATION.replace_all(&changed, header).into_owned()),
    }
}

/// `Cookie:` / `Set-Cookie:` carry session tokens; the whole value is masked.
static COOKIE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r#"(?i)\b(?P<key>(?:set-)?cookie)(?P<sep>(?:\\?["'])?\s*:\s*(?:\\?["'])?)[^"'\r\n\\]*[^"'\r\n\\\s]"#,
    )
});

fn cookie_headers(text: &str) -> Cow<'_, str> {
    COOKIE.replace_all(text, |caps: &Captures<'_>| {
        format!("{}{}{REDACTED}", &caps["key"], &caps["sep"])
    })
}

/// `Bearer <token>` outside an Authorization header (in an error message, a curl command line).
static BARE_BEARER: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?i)\b(?P<scheme>bearer)(?P<space>\s+)(?P<token>[A-Za-z0-9\-._~+/]+=*)")
});

fn bare_bearer_tokens(text: &str) -> Cow<'_, str> {
    BARE_BEARER.replace_all(text, |caps: &Captures<'_>| {
        let token = &caps["token"];
        // Prose says "bearer token" and "Bearer authentication"; real tokens are long and carry
        // digits or punctuation.
        let core = token.trim_end_matches('.');
        let looks_like_token = core.len() >= 8
            && core
                .chars()
                .any(|c| c.is_ascii_digit() || "-_~+/=.".contains(c));
        if looks_like_token {
            let trailing = &token[core.len()..];
            format!("{}{}{REDACTED}{trailing}", &caps["scheme"], &caps["space"])
        } else {
            caps[0].to_owned()
        }
    })
}

/// A quoted or unquoted value: an already masked one (so a second pass changes nothing),
/// JSON-escaped quotes (a JSON document logged inside a JSON string),
/// double quotes with escapes, single quotes, or a bare word.
const VALUE: &str = r#"(?P<value>\[REDACTED\]|\\"(?:[^"\\]|\\[^"])*\\"|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s"'&,;}\]\\]+)"#;

/// The secret words a key ends in. A key may carry any prefix (`OPENAI_API_KEY`, `x-api-key`,
/// `db.password`, `accessToken`) but no suffix, so `tokenizer`, `max_tokens` and `secret_name`
/// are not keys.
const SECRET_KEY: &str = r"api[_.-]?key|access[_.-]?key|secret[_.-]?key|private[_.-]?key|client[_.-]?secret|secret|token|passw(?:or)?d|pwd|passphrase|credentials?";

/// `--password value`, `--api-key "value"` on a logged command line.
static CLI_FLAG: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r#"(?im)(?P<lead>^|\s)(?P<flag>--?(?:[a-z0-9]+-)*(?:api-?key|access-key|secret-key|client-secret|secret|token|passw(?:or)?d|passphrase))(?P<space>\s+)(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s\-"'][^\s]*)"#,
    )
});

fn command_line_flags(text: &str) -> Cow<'_, str> {
    CLI_FLAG.replace_all(text, |caps: &Captures<'_>| {
        let value = mask_value(&caps["value"]);
        format!(
            "{}{}{}{value}",
            &caps["lead"], &caps["flag"], &caps["space"]
        )
    })
}

static KEY_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        r#"(?i)\b(?P<key>[a-z0-9_.-]*?(?:{SECRET_KEY}))(?P<sep>{SEP})(?P<scheme>(?:bearer|basic|token)\s+)?{VALUE}"#
    ))
});

fn key_values(text: &str) -> Cow<'_, str> {
    KEY_VALUE.replace_all(text, |caps: &Captures<'_>| {
        let (key, sep, value) = (&caps["key"], &caps["sep"], &caps["value"]);
        let scheme = caps.name("scheme").map_or("", |s| s.as_str());
        let quoted = value.starts_with(['"', '\'', '\\']);
        let masked = if !quoted && scheme.is_empty() && is_json_literal(value) {
            // `"password": null` or `"secret": true` reveals nothing; keep the document's types.
            value.to_owned()
        } else if !quoted && scheme.is_empty() && sep.starts_with('"') {
            // A bare JSON value (`"token": 123`): a bare mask would make the line invalid
            // JSON, so the mask is a string.
            format!("\"{REDACTED}\"")
        } else if !quoted && scheme.is_empty() && sep.starts_with("\\\"") {
            format!("\\\"{REDACTED}\\\"")
        } else {
            mask_value(value)
        };
        format!("{key}{sep}{scheme}{masked}")
    })
}

fn is_json_literal(value: &str) -> bool {
    matches!(value, "null" | "true" | "false")
}

/// Masks a value while keeping its quoting, so the line keeps its shape (valid JSON stays valid).
/// An empty quoted value reveals nothing and stays as it is.
fn mask_value(value: &str) -> String {
    for quote in [r#"\""#, "\"", "'"] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            if inner.is_empty() {
                return value.to_owned();
            }
            return format!("{quote}{REDACTED}{quote}");
        }
    }
    REDACTED.to_owned()
}

/// `scheme://user:password@host`: the password runs to the last `@` before the host, so an
/// unencoded `@` inside it is masked too. The user name stays.
static URL_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| regex(r#"(?i)\b(?P<prefix>[a-z][a-z0-9+.-]*://[^\s:/@"'<>]*:)[^\s/"'<>]+@"#));

fn url_passwords(text: &str) -> Cow<'_, str> {
    URL_PASSWORD.replace_all(text, |caps: &Captures<'_>| {
        format!("{}{REDACTED}@", &caps["prefix"])
    })
}

/// Discord and Slack webhook URLs (notification targets) carry their secret in the path: the
/// last segment is masked, the ids before it stay.
static WEBHOOK_URL: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)(?P<prefix>https?://(?:(?:ptb\.|canary\.)?discord(?:app)?\.com/api(?:/v\d+)?/webhooks/\d+/|hooks\.slack\.com/(?:services|workflows|triggers)/(?:[A-Za-z0-9]+/)+))(?P<token>[A-Za-z0-9_\-]{16,})",
    )
});

fn webhook_urls(text: &str) -> Cow<'_, str> {
    WEBHOOK_URL.replace_all(text, |caps: &Captures<'_>| {
        format!("{}{REDACTED}", &caps["prefix"])
    })
}

/// Credentials recognisable by their shape alone.
static TOKEN_SHAPES: LazyLock<Regex> = LazyLock::new(|| {
    regex(concat!(
        r"\b(?:",
        r"gh[pousr]_[A-Za-z0-9]{20,}",            // GitHub tokens
        r"|github_pat_[A-Za-z0-9_]{20,}",         // GitHub fine-grained tokens
        r"|glpat-[A-Za-z0-9_\-]{20,}",            // GitLab personal access tokens
        r"|sk-[A-Za-z0-9_\-]{16,}",               // OpenAI / Anthropic style secret keys
        r"|[rs]k_(?:live|test)_[A-Za-z0-9]{16,}", // Stripe secret / restricted keys
        r"|xox[abposr]-[A-Za-z0-9\-]{10,}",       // Slack tokens
        r"|(?:AKIA|ASIA)[A-Z0-9]{16}",            // AWS access key ids
        r"|AIza[0-9A-Za-z_\-]{35}",               // Google API keys
        r"|hf_[A-Za-z0-9]{30,}",                  // Hugging Face tokens
        r"|eyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*", // JWTs
        r")",
    ))
});

fn token_shapes(text: &str) -> Cow<'_, str> {
    TOKEN_SHAPES.replace_all(text, REDACTED)
}

// ---------------------------------------------------------------------------------------------
// Personal data and addresses

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b",
    )
});

fn emails(text: &str) -> Cow<'_, str> {
    EMAIL.replace_all(text, EMAIL_MASK)
}

/// IPv6 candidates: colon-separated hex groups, optionally ending in a dotted IPv4 address, with an
/// optional zone. The first alternative prefers the IPv4 tail so that `::ffff:10.0.0.1` is one
/// candidate rather than `::ffff:10` followed by `.0.0.1`. Every candidate is validated by
/// [`Ipv6Addr`]'s parser before it is masked.
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?:(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:]*)(?:%[A-Za-z0-9_.\-]+)?",
    )
});

fn ipv6_addresses(text: &str) -> Cow<'_, str> {
    replace_validated(text, &IPV6, IPV6_MASK, |candidate| {
        let address = candidate.split('%').next().unwrap_or(candidate);
        address.bytes().any(|b| b.is_ascii_digit()) && address.parse::<Ipv6Addr>().is_ok()
    })
}

static IPV4: LazyLock<Regex> = LazyLock::new(|| regex(r"(?:\d{1,3}\.){3}\d{1,3}"));

fn ipv4_addresses(text: &str) -> Cow<'_, str> {
    replace_validated(text, &IPV4, IPV4_MASK, |candidate| {
        candidate
            .split('.')
            .all(|octet| octet.parse::<u16>().is_ok_and(|n| n <= 255))
    })
}

/// Replaces the matches of `re` that pass `valid` and stand alone: not glued to a letter, digit,
/// `_` or `.` before, nor to a letter, digit, `_` or another `.digit` group after (so `v1.2.3.4`,
/// `1.2.3.4.5`, `std::net` and `12:30:45.6` fragments are not taken for addresses). The regex
/// crate has no look-around, hence the manual context check.
fn replace_validated<'t>(
    text: &'t str,
    re: &Regex,
    mask: &str,
    valid: impl Fn(&str) -> bool,
) -> Cow<'t, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut changed = false;
    for m in re.find_iter(text) {
        let before = text[..m.start()].chars().next_back();
        let mut after_chars = text[m.end()..].chars();
        let after = after_chars.next();
        let after_next = after_chars.next();
        // A port (`10.0.0.1:8080`), a prefix length (`/24`) or a sentence's full stop may follow
        // an address; another dotted group (`1.2.3.4.5`, `12:30:45.123`) may not.
        let glued_before = before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
        let glued_after = after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            || (after == Some('.') && after_next.is_some_and(|c| c.is_ascii_digit()));
        if glued_before || glued_after || !valid(m.as_str()) {
            continue;
        }
        out.push_str(&text[copied..m.start()]);
        out.push_str(mask);
        copied = m.end();
        changed = true;
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// `/home/alice`, `/var/home/alice` (Fedora Atomic), `/Users/alice` (macOS), where a path starts:
/// at the start of a line, after whitespace, a quote, `=`, `:`, a bracket, `,`, `;`, `>` or `|`,
/// or after `file://`.
static UNIX_HOME: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r#"(?m)(?P<lead>^|[\s"'=:(\[{,;>|`]|file://|/var)(?P<dir>/home/|/Users/)(?P<user>[A-Za-z0-9._\-]+)"#,
    )
});

fn unix_home_directories(text: &str) -> Cow<'_, str> {
    UNIX_HOME.replace_all(text, |caps: &Captures<'_>| {
        format!("{}{}{USER_MASK}", &caps["lead"], &caps["dir"])
    })
}

/// `C:\Users\carol`, `C:/Users/carol` and the JSON-escaped `C:\\Users\\carol`.
static WINDOWS_HOME: LazyLock<Regex> = LazyLock::new(|| {
    regex(r#"(?i)\b(?P<prefix>[a-z]:(?:\\{1,2}|/)users(?:\\{1,2}|/))(?P<user>[^\\/\s"':*?<>|]+)"#)
});

fn windows_home_directories(text: &str) -> Cow<'_, str> {
    WINDOWS_HOME.replace_all(text, |caps: &Captures<'_>| {
        format!("{}{USER_MASK}", &caps["prefix"])
    })
}

/// `~alice/…`, the shell's spelling of another user's home. Only with the slash, so prose such as
/// "~about" stays.
static TILDE_HOME: LazyLock<Regex> = LazyLock::new(|| {
    regex(r#"(?m)(?P<lead>^|[\s"'=:(\[{,;>|`])~(?P<user>[A-Za-z_][A-Za-z0-9._\-]*)/"#)
});

fn tilde_home_directories(text: &str) -> Cow<'_, str> {
    TILDE_HOME.replace_all(text, |caps: &Captures<'_>| {
        format!("{}~{USER_MASK}/", &caps["lead"])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, expected output). Every case is also checked for idempotence.
    const CASES: &[(&str, &str)] = &[
        // --- api keys in every quoting style
        ("api_key=abc123", "api_key=[REDACTED]"),
        ("API_KEY=abc123", "API_KEY=[REDACTED]"),
        (
            "OPENAI_API_KEY=abc123 next",
            "OPENAI_API_KEY=[REDACTED] next",
        ),
        ("apikey: \"abc 123\"", "apikey: \"[REDACTED]\""),
        ("\"api-key\": 'abc'", "\"api-key\": '[REDACTED]'"),
        ("x-api-key: abc123", "x-api-key: [REDACTED]"),
        ("X-Api-Key:abc123", "X-Api-Key:[REDACTED]"),
        (
            "{\"apiKey\":\"abc\",\"model\":\"llama3\"}",
            "{\"apiKey\":\"[REDACTED]\",\"model\":\"llama3\"}",
        ),
        ("api_key = abc123", "api_key = [REDACTED]"),
        (
            "GET /v1?api_key=abc&x=1 200",
            "GET /v1?api_key=[REDACTED]&x=1 200",
        ),
        (
            "$cfg = ['api_key' => 'abc'];",
            "$cfg = ['api_key' => '[REDACTED]'];",
        ),
        ("apiKey := \"abc\"", "apiKey := \"[REDACTED]\""),
        // --- tokens
        ("token=abc123", "token=[REDACTED]"),
        ("access_token=abc.def-ghi", "access_token=[REDACTED]"),
        (
            "{\"refresh_token\": \"r1\", \"expires_in\": 3600}",
            "{\"refresh_token\": \"[REDACTED]\", \"expires_in\": 3600}",
        ),
        ("auth_token: xyz", "auth_token: [REDACTED]"),
        ("X-Auth-Token: xyz", "X-Auth-Token: [REDACTED]"),
        (
            "accessToken=\"a\\\"b\" rest",
            "accessToken=\"[REDACTED]\" rest",
        ),
        (
            "use ghp_abcdefghijklmnopqrstuvwxyz0123456789 now",
            "use [REDACTED] now",
        ),
        (
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
            "[REDACTED]",
        ),
        ("key sk-proj-abcdefghijklmnop1234567890", "key [REDACTED]"),
        ("slack xoxb-1234567890-abcdefghij", "slack [REDACTED]"),
        ("slack xoxp-1234567890-abcdefghij", "slack [REDACTED]"),
        ("aws AKIAIOSFODNN7EXAMPLE done", "aws [REDACTED] done"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = [REDACTED]",
        ),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end",
            "jwt [REDACTED] end",
        ),
        ("hf_abcdefghijklmnopqrstuvwxyz0123456789", "[REDACTED]"),
        // --- passwords
        ("password=hunter2", "password=[REDACTED]"),
        ("passwd: hunter2", "passwd: [REDACTED]"),
        ("pwd=hunter2", "pwd=[REDACTED]"),
        (
            "{\"password\": \"correct horse battery\"}",
            "{\"password\": \"[REDACTED]\"}",
        ),
        (
            "MYSQL_ROOT_PASSWORD=s3cret!",
            "MYSQL_ROOT_PASSWORD=[REDACTED]",
        ),
        ("db.password: 'x y z'", "db.password: '[REDACTED]'"),
        ("client_secret=abc", "client_secret=[REDACTED]"),
        ("passphrase=\"\"", "passphrase=\"\""),
        (
            r#"{"password":null,"token":123,"api_key":"","secret":true,"pin":1}"#,
            r#"{"password":null,"token":"[REDACTED]","api_key":"","secret":true,"pin":1}"#,
        ),
        (r#"{\"token\":42}"#, r#"{\"token\":\"[REDACTED]\"}"#),
        (
            "notify https://discord.com/api/webhooks/123456789012345678/AbCdEf-GhIjKlMnOpQrStUvWxYz_0123456789 ok",
            "notify https://discord.com/api/webhooks/123456789012345678/[REDACTED] ok",
        ),
        (
            "POST https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdefghijklmnopqrstuvwx",
            "POST https://hooks.slack.com/services/T0123ABCD/B0456EFGH/[REDACTED]",
        ),
        (
            "mysql --password hunter2 --user app",
            "mysql --password [REDACTED] --user app",
        ),
        (
            "cli --api-key=abc --token 'a b'",
            "cli --api-key=[REDACTED] --token '[REDACTED]'",
        ),
        (
            "cli --token-file /run/secrets/t",
            "cli --token-file /run/secrets/t",
        ),
        (
            "postgres://app:hunter2@db:5432/cyber",
            "postgres://app:[REDACTED]@db:5432/cyber",
        ),
        ("redis://:p%40ss@cache/0", "redis://:[REDACTED]@cache/0"),
        (
            "url=https://bob:p@ss@example.org/x",
            "url=https://bob:[REDACTED]@example.org/x",
        ),
        (
            "see https://example.org:8443/path@x",
            "see https://example.org:8443/path@x",
        ),
        // --- authorization headers and bearer tokens
        (
            "Authorization: Bearer abc.def.ghi",
            "Authorization: Bearer [REDACTED]",
        ),
        (
            "authorization: basic dXNlcjpwYXNz",
            "authorization: basic [REDACTED]",
        ),
        (
            "Proxy-Authorization: Basic dXNlcjpwYXNz",
            "Proxy-Authorization: Basic [REDACTED]",
        ),
        (
            "{\"Authorization\": \"Bearer abc\", \"Accept\": \"*/*\"}",
            "{\"Authorization\": \"Bearer [REDACTED]\", \"Accept\": \"*/*\"}",
        ),
        (
            "Authorization: Digest username=\"bob\", response=\"6629\"",
            "Authorization: Digest [REDACTED]",
        ),
        (
            r#"{"Authorization":"Digest username=\"bob\", nonce=\"x\"","a":1}"#,
            r#"{"Authorization":"Digest [REDACTED]","a":1}"#,
        ),
        (
            "authorization='AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=abc' next",
            "authorization='AWS4-HMAC-SHA256 [REDACTED]' next",
        ),
        ("Authorization: abc123", "Authorization: [REDACTED]"),
        (
            "curl -H 'Authorization: Bearer abc' http://x",
            "curl -H 'Authorization: Bearer [REDACTED]' http://x",
        ),
        (
            "failed with Bearer eyJhbGciOiJI.payload.sig",
            "failed with Bearer [REDACTED]",
        ),
        (
            "token rejected: bearer abcd1234efgh.",
            "token rejected: bearer [REDACTED].",
        ),
        ("auth_token: Bearer abc", "auth_token: Bearer [REDACTED]"),
        ("Cookie: session=abc; theme=dark", "Cookie: [REDACTED]"),
        (
            "Set-Cookie: sid=abc; Path=/; HttpOnly",
            "Set-Cookie: [REDACTED]",
        ),
        // --- private keys
        (
            "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAabc\nQWERTY==\n-----END RSA PRIVATE KEY-----\nafter",
            "key:\n-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----\nafter",
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY----- and -----BEGIN EC PRIVATE KEY-----\nxyz\n-----END EC PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----[REDACTED]-----END PRIVATE KEY----- and -----BEGIN EC PRIVATE KEY-----[REDACTED]-----END EC PRIVATE KEY-----",
        ),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
            "-----BEGIN OPENSSH PRIVATE KEY-----[REDACTED]-----END OPENSSH PRIVATE KEY-----",
        ),
        (
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0w\n-----END ENCRYPTED PRIVATE KEY-----",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----[REDACTED]-----END ENCRYPTED PRIVATE KEY-----",
        ),
        (
            "{\"key\":\"-----BEGIN RSA PRIVATE KEY-----\\nMIIEabc\\n-----END RSA PRIVATE KEY-----\\n\"}",
            "{\"key\":\"-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----\\n\"}",
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nMIIEpAIBAAKCAQEAabcdefgh\n2026-11-24 next log line",
            "-----BEGIN RSA PRIVATE KEY-----[REDACTED]\n2026-11-24 next log line",
        ),
        (
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOC\n-----END PUBLIC KEY-----",
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOC\n-----END PUBLIC KEY-----",
        ),
        // --- IPv4
        ("connect 10.0.0.1:8080 failed", "connect <ip>:8080 failed"),
        ("from 192.168.1.20, to 8.8.8.8.", "from <ip>, to <ip>."),
        ("net 172.16.0.0/12", "net <ip>/12"),
        ("ip=127.0.0.1", "ip=<ip>"),
        ("version 1.2.3 and 10.20.30", "version 1.2.3 and 10.20.30"),
        (
            "not an ip 256.1.1.1 or 1.2.3.4.5 or v1.2.3.4",
            "not an ip 256.1.1.1 or 1.2.3.4.5 or v1.2.3.4",
        ),
        ("[10.0.0.1]", "[<ip>]"),
        // --- IPv6
        ("peer fe80::1 up", "peer <ipv6> up"),
        ("peer fe80::1%eth0 up", "peer <ipv6> up"),
        ("listen [::1]:8080", "listen [<ipv6>]:8080"),
        (
            "addr 2001:db8:85a3:0000:0000:8a2e:0370:7334 ok",
            "addr <ipv6> ok",
        ),
        ("mapped ::ffff:10.0.0.1 ok", "mapped <ipv6> ok"),
        ("ula fd00::1/8", "ula <ipv6>/8"),
        (
            "time 12:30:45 and 2026-11-24T05:34:19Z and 12:30:45.123",
            "time 12:30:45 and 2026-11-24T05:34:19Z and 12:30:45.123",
        ),
        ("mac 00:1a:2b:3c:4d:5e", "mac 00:1a:2b:3c:4d:5e"),
        (
            "rust std::net::IpAddr and Foo::bar() and a :: b and dead::beef",
            "rust std::net::IpAddr and Foo::bar() and a :: b and dead::beef",
        ),
        ("bind :: port", "bind :: port"),
        // --- e-mail
        ("mail alice@example.com now", "mail <email> now"),
        ("<bob.smith+ops@mail.example.co.uk>", "<<email>>"),
        ("mailto:carol@example.org", "mailto:<email>"),
        (
            "image@sha256:abcd and pkg@1.2.3",
            "image@sha256:abcd and pkg@1.2.3",
        ),
        // --- home directories
        (
            "open /home/alice/.ssh/id_rsa",
            "open /home/<user>/.ssh/id_rsa",
        ),
        ("/home/alice", "/home/<user>"),
        ("HOME=/home/bob", "HOME=/home/<user>"),
        (
            "path \"/Users/bob/Library\"",
            "path \"/Users/<user>/Library\"",
        ),
        ("/var/home/dave/x", "/var/home/<user>/x"),
        ("file:///home/erin/doc.md", "file:///home/<user>/doc.md"),
        ("C:\\Users\\carol\\AppData", "C:\\Users\\<user>\\AppData"),
        (
            "{\"p\":\"C:\\\\Users\\\\carol\\\\x\"}",
            "{\"p\":\"C:\\\\Users\\\\<user>\\\\x\"}",
        ),
        ("d:/users/frank/x", "d:/users/<user>/x"),
        ("cd ~alice/src", "cd ~<user>/src"),
        (
            "https://example.org/home/page and /root/x and ~/x",
            "https://example.org/home/page and /root/x and ~/x",
        ),
        // --- ordinary text stays
        (
            "tokenizer=bert max_tokens=512 prompt_tokens: 12",
            "tokenizer=bert max_tokens=512 prompt_tokens: 12",
        ),
        ("passwordless login enabled", "passwordless login enabled"),
        ("Enter password:", "Enter password:"),
        (
            "the bearer token is missing; Bearer authentication failed",
            "the bearer token is missing; Bearer authentication failed",
        ),
        ("secret_name=db-creds", "secret_name=db-creds"),
        ("task-runner risk-assessment", "task-runner risk-assessment"),
        ("", ""),
        // --- several secrets on one line, at line start and end, JSON log lines
        (
            "token=a password=b api_key=c",
            "token=[REDACTED] password=[REDACTED] api_key=[REDACTED]",
        ),
        (
            "password=x\nuser alice@example.com from 10.1.2.3\napi_key=y",
            "password=[REDACTED]\nuser <email> from <ip>\napi_key=[REDACTED]",
        ),
        (
            r#"{"ts":"2026-11-24T05:34:19Z","level":"INFO","msg":"login","user":"bob@example.com","ip":"10.0.0.7","token":"abc","path":"/home/bob/x"}"#,
            r#"{"ts":"2026-11-24T05:34:19Z","level":"INFO","msg":"login","user":"<email>","ip":"<ip>","token":"[REDACTED]","path":"/home/<user>/x"}"#,
        ),
        (
            r#"{"msg":"{\"api_key\":\"abc\",\"n\":1}"}"#,
            r#"{"msg":"{\"api_key\":\"[REDACTED]\",\"n\":1}"}"#,
        ),
    ];

    #[test]
    fn redaction_table() {
        for (input, expected) in CASES {
            let once = redact(input);
            assert_eq!(once, *expected, "redact({input:?})");
            let twice = redact(&once);
            assert_eq!(twice, once, "redact is not idempotent for {input:?}");
        }
    }

    #[test]
    fn nothing_to_mask_borrows() {
        let text = "2026-11-24T05:34:19Z INFO run 42 completed in 12:30:45 (v1.2.3)";
        assert!(matches!(redact(text), Cow::Borrowed(_)));
        assert!(matches!(redact(""), Cow::Borrowed(_)));
        assert!(matches!(redact("password=x"), Cow::Owned(_)));
    }

    #[test]
    fn redact_if_respects_the_switch() {
        let text = "token=abc from 10.0.0.1";
        assert_eq!(redact_if(true, text), "token=[REDACTED] from <ip>");
        let off = redact_if(false, text);
        assert!(matches!(off, Cow::Borrowed(_)));
        assert_eq!(off, text);
    }

    #[test]
    fn secrets_never_survive() {
        // Whatever else happens to the text, these values must be gone.
        let cases: &[(&str, &str)] = &[
            ("Authorization: Bearer s3cr3tT0ken", "s3cr3tT0ken"),
            ("postgres://u:Pa55w0rd@db/x", "Pa55w0rd"),
            ("\"password\":\"Pa55 w0rd\"", "Pa55 w0rd"),
            (
                "export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123",
                "ghp_abcdefghijklmnop",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nSECRETBODYSECRETBODY\n-----END RSA PRIVATE KEY-----",
                "SECRETBODY",
            ),
            ("password: 10.0.0.1", "10.0.0.1"),
            ("auth_token=Bearer abc", "abc"),
        ];
        for (input, secret) in cases {
            let out = redact(input);
            assert!(!out.contains(secret), "{secret:?} survived in {out:?}");
        }
    }

    #[test]
    fn large_input_without_matches_is_untouched() {
        let text = "INFO worker heartbeat ok\n".repeat(10_000);
        assert!(matches!(redact(&text), Cow::Borrowed(_)));
    }
}
